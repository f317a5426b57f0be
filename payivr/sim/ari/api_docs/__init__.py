"""ARI api-docs of Asterisk 22.10.1 (rest-api/api-docs), shipped as package data."""
