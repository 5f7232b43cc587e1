"""Reports for dpmnist: data exploration of an HDF5 data file, and the report of
a training run (curves, confusion, mistakes, weights, timing, calibration).
Figures are matplotlib PNGs; report.md links them and report.html inlines them.
It reads the project's files; it never trains, and it never writes outside --out.
"""
