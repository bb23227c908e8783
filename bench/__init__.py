"""skiff's benchmarks: side by side with the engines users would pick instead."""
