"""The UFTP codec: XML, schema, signing and keys. Pure Python: no Django imports here."""
