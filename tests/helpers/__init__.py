"""What the tests share: workloads (C helpers, netns, loop devices, denied opens), the
recorded session the snapshots draw, and ways into a running app."""
