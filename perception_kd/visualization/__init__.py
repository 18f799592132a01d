"""Visualisation: Open3D scenes, headless PNG rendering and BEV plots (see the visualisation issue)."""
