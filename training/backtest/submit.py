"""The file to hand spark-submit (it runs a .py file, not the `triage` console script): the arguments are those of
`triage backtest`, the engine is Spark and the master is spark-submit's.

    spark-submit --master spark://head:7077 training/backtest/submit.py --data hdfs:///complaints.parquet --out /tmp/bt
"""

import sys

from triage.cli import app

if __name__ == "__main__":
    app(["backtest", "--engine", "spark", *sys.argv[1:]])
