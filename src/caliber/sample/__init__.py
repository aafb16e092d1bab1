"""Realistic synthetic Trade Desk and PulsePoint performance exports (`caliber sample`,
the tests and the benchmarks): ``export.write_sample`` writes one."""
