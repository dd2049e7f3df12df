"""hubtune: deep transfer learning recipes for the Hugging Face ecosystem."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hubtune")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
