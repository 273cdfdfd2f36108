"""File adapters: the import/export layout and CSV/XLSX readers and writers."""
