"""Reference scores for test/pipeline/processors/anomaly-iforest.test.ts: scikit-learn's IsolationForest fitted on
the rows read from stdin (JSON: {"rows": [[...], ...], "trees": N, "sample_size": N, "seed": N}); prints the
anomaly score of each row, -score_samples(X) (in (0, 1], higher is more anomalous), as a JSON list."""
import json
import sys

import numpy as np
from sklearn.ensemble import IsolationForest

req = json.load(sys.stdin)
X = np.asarray(req["rows"], dtype=float)
forest = IsolationForest(
    n_estimators=req["trees"], max_samples=req["sample_size"], random_state=req["seed"]
).fit(X)
json.dump([float(s) for s in -forest.score_samples(X)], sys.stdout)
