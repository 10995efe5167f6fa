"""Apple Wallet: .pkpass files, their signature, the PassKit web service and APNs."""
