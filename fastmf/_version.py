"""fastmf's version (PEP 440), in a module of its own so that the package, the model
files and the build (``pyproject.toml``) read it without importing anything else."""

# Releases start at 0.2.0 (RELEASING.md says why).
__version__ = "0.2.0.dev0"
