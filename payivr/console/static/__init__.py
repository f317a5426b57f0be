"""The console page (plain HTML, CSS and JavaScript); a package so wheels include it."""
