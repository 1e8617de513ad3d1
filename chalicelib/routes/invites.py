"""Routes of this feature (filled in by its issue)."""
from chalice import Blueprint

bp = Blueprint(__name__)
