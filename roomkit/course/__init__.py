"""The course: authoring notebooks, checking exercises, and grading submissions.

Built on the server layer (``roomkit``), never the reverse. The path of a grade:
:mod:`~roomkit.course.cli` (``roomkit grade``) -> :mod:`~roomkit.course.grade_command`
(:mod:`~roomkit.course.submissions`: which notebooks) -> :mod:`~roomkit.course.classrun`
(one :mod:`~roomkit.course.grade_worker` process per submission, rows as
:mod:`~roomkit.course.records`) -> :mod:`~roomkit.course.grading`
(pytest with :mod:`~roomkit.course.pytest_plugin`) -> the exercise's tests ->
:mod:`~roomkit.course.implementations` (the learner's cells) ->
:mod:`~roomkit.course.judge` (:mod:`~roomkit.course.scenario` run on both
servers, :mod:`~roomkit.course.compare`) -> :mod:`~roomkit.course.results` ->
:mod:`~roomkit.course.reports`. Under ``roomkit grade`` the learner's cells run in
a candidate host of their own (:mod:`~roomkit.course.candidate_host`, sealed by
:mod:`~roomkit.course.sandbox`, driven through :mod:`~roomkit.course.remote`, which
hands it the test's ``install`` with :mod:`~roomkit.course.shipping`). See
docs/architecture.md.
"""
