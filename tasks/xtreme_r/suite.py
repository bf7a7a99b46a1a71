"""The XTREME-R benchmark (Ruder et al. 2021) as google-research/xtreme's `evaluate.py --xtreme_version
xtreme-r` defines it: groups as XTREME_R_GROUP2TASK (XCOPA counts in classification and multi_choice),
languages as XTREME_R_TASK2LANGS (the `_xr` task variants carry XTREME-R's added languages).

evaluate.py forms `all_task` over every task of XTREME_R_TASK2LANGS, which lists LAReQA with no languages,
so that script never reaches an overall score. Ours:
- `score` (headline): the mean of the nine task scores evaluate.py can compute, i.e. its `all_task` with
  LAReQA left out; null unless all nine are present.
- `category_mean`: the mean of the five group scores (the leaderboard's presentation; XCOPA weighs in two
  groups); null unless every group is complete.
- `score_with_lareqa`: the mean of all ten task scores; null unless all ten are present.
LAReQA is in no group, as in evaluate.py.
"""

from harness.spec import Suite, SuiteScore

TASKS = ("xnli", "xcopa", "udpos_xr", "panx_xr", "xquad_xr", "mlqa", "tydiqa", "tatoeba_xr", "mewslix")
"""The nine tasks of the headline (evaluate.py's XTREME_R_TASK2LANGS without LAReQA)."""

SUITE = Suite(
    name="xtreme-r",
    aliases=("xtreme_r",),
    tasks=TASKS,
    extra_tasks=("lareqa",),
    groups={
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos_xr", "panx_xr"),
        "qa": ("xquad_xr", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba_xr", "mewslix"),
        "multi_choice": ("xcopa",),
    },
    overall="mean_of_tasks",
    score_label="evaluate.py all_task without LAReQA: mean of the 9 task scores it can compute",
    scores={
        "category_mean": SuiteScore(rule="mean_of_groups",
                                    label="mean of the 5 evaluate.py group scores (XCOPA in two groups)"),
        "score_with_lareqa": SuiteScore(rule="mean_of_tasks", tasks=(*TASKS, "lareqa"),
                                        label="mean of all 10 task scores, LAReQA included (not an "
                                              "evaluate.py number)"),
    },
    description="XTREME-R (Ruder et al. 2021): headline as evaluate.py's all_task over the 9 tasks it scores; "
                "category mean and the score with LAReQA reported beside it",
)
