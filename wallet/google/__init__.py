"""Google Wallet: loyalty class/object JSON, Save to Google Wallet JWT, REST updates."""
