//! A saved model directory (filled in below).
