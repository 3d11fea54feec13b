import warnings

# eventlet prints a deprecation banner on import; it is noise for operators and tests alike
# (docs/DESIGN.md says why nameko 2 keeps us on eventlet).
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
