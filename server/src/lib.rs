//! kazashi-server (in progress).
