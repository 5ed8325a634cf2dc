"""Recipe 5: open-ended writing improved by a dedicated feedback model and a dedicated edit model.

Run:  python cookbook/05_feedback_and_edit_models.py
(uses the embedded SmolLM2-135M; set TTC_BASE_URL and TTC_MODEL to use any OpenAI-compatible server)

What it shows: `feedback_edit` drafts 2 responses, asks a feedback model for actionable feedback on
each, has an edit model rewrite each draft per feedback, and lets a judge pick the best of drafts
and edits. Here every role is the embedded model with its own settings; in practice each role can be
a different model, e.g.:

    drafter        = prompt | ChatOpenAI(model="gpt-4o-mini", temperature=0.9) | StrOutputParser()
    feedback_model = ChatOpenAI(model="gpt-4o")              # a stronger critic
    edit_model     = ChatOpenAI(model="gpt-4o-mini")         # a cheap rewriter
    judge          = llm_judge(ChatOpenAI(model="gpt-4o"), rubric="...")

A 135M judge is a weak guide; the point here is the mechanics and the spend per role.
"""

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from ttc_plugins import Budget, budget_scope
from ttc_plugins.langchain import feedback_edit, llm_judge
from ttc_plugins.local import local_chat_model, local_judge_model, model_endpoint

TASK = "Write a two-sentence product description for a reusable steel water bottle."
RUBRIC = "Is it exactly two sentences, concrete, and persuasive, with no false claims?"


def main() -> None:
    with model_endpoint() as (base_url, model):
        drafter = (
            ChatPromptTemplate.from_messages([("user", "{question}")])
            | local_chat_model(base_url, model=model, temperature=0.9, max_tokens=96)
            | StrOutputParser()
        )
        feedback_model = local_chat_model(base_url, model=model, temperature=0.3, max_tokens=96)
        edit_model = local_chat_model(base_url, model=model, temperature=0.5, max_tokens=96)
        # local_judge_model constrains the embedded judge's reply to the judge's JSON, so it always parses.
        judge = llm_judge(local_judge_model(base_url, model=model), rubric=RUBRIC, structured=False)

        budget = Budget(max_total_tokens=15_000)
        with budget_scope(budget):
            solver = feedback_edit(drafter, feedback_model=feedback_model, edit_model=edit_model, judge=judge,
                                   drafts=2, feedbacks=1, edits=2)  # fmt: skip
            result = solver.with_result().invoke({"question": TASK}, {"max_concurrency": 2})

        feedback = {e.data["draft"]: e.data["feedback"] for e in result.events if e.kind == "feedback"}
        parents = {e.data["index"]: e.data["draft"] for e in result.events if e.kind == "edit"}
        for version in result.candidates:
            origin = "draft" if version.index not in parents else f"edit of draft #{parents[version.index]}"
            score = f"unscored: {version.error[:60]}..." if version.error else f"score {version.score:.1f}"
            print(f"#{version.index} ({origin}, {score}): {' '.join(str(version.output).split())[:150]}")
        for draft, text in feedback.items():
            print(f"\nfeedback on draft #{draft}: {' '.join(text.split())[:200]}")
        print(f"\nchosen: #{result.chosen}  (stop: {result.stop_reason})\n")
        print(budget.report())


if __name__ == "__main__":
    main()
