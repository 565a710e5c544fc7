//! Plots of a run as standalone SVG text (filled in below).
