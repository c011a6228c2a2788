"""What calls cost and leave behind: prices (`pricing`), the one recorder that prices and books
every call (`recording`), the SQLite and PostgreSQL ledgers and their summaries."""
