"""Warehouse access: embedded server lifecycle, connections and the COPY loader."""
