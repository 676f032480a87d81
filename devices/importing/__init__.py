"""Readers for a bureau's GIS exports (GeoJSON, ESRI Shapefile) and registry spreadsheets (CSV, XLSX).

Each reader returns plain, typed data or raises ``ImportFailed`` listing every problem it found,
each naming the file and the row, feature or column; nothing else escapes.
"""
