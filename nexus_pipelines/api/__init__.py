"""`nexus api`: the HTTP metrics API over the marts, and the Segment-compatible event collector."""
