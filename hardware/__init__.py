"""Store devices: scanners, barcodes, printers. Knows nothing of customers or orders."""
