"""Helpers shared by the integration, interop and security tests."""
