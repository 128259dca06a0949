"""Data files written for optui: index membership, sectors, exchange holidays."""
