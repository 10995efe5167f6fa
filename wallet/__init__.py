"""Wallet passes: signed pass codes, Apple .pkpass and Google Wallet (not built yet)."""
