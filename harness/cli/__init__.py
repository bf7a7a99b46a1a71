"""The `xstilts` command line (click). Thin: parsing and printing only; work happens in harness."""
