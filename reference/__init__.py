"""Reference solutions of PS1 (staff only). `starter/` is generated from these files."""
