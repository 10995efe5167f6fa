"""Store devices: scanners and the symbols they read, printers and receipts. Knows nothing
of customers or orders."""
