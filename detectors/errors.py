"""Errors the detectors raise on purpose."""

from vigil.errors import VigilError


class DetectorError(VigilError):
    """Base of the detectors' errors."""


class PolicyError(DetectorError):
    """The policy file is malformed or a figure is out of its sensible range."""


class RegistryError(DetectorError):
    """The device registry handed to the engine is inconsistent."""


class InputFileError(DetectorError):
    """A replay input file is malformed; the message names the file and line."""
