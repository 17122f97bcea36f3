"""Views of the administrators' web interface: thin; reads in registry.selectors.web, writes in services."""
