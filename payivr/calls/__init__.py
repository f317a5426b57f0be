"""Call control: runs payment flows on live calls (Stasis application, drivers, notifier)."""
