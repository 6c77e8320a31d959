"""The content hash of a build context lives in the core (portable.delivery.context): the
Docker target tags `build:` images with it, and targets that push use the same hash."""
from portable.delivery.context import context_hash

__all__ = ["context_hash"]
