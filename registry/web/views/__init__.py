"""Views of the administrators' web interface: thin; reads in registry.selectors, writes in services."""
