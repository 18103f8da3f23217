"""The pipeline's consumer groups and the topics each reads, as the services name them.

What a drain check, a backlog reset or a reconciliation walks: one list, so that a lane
added to a service is not forgotten by one of them.
"""

from __future__ import annotations

from services.classifier.worker import GROUP as CLASSIFIER_GROUP
from services.classifier.worker import PRIORITY_GROUP as PRIORITY_CLASSIFIER_GROUP
from services.notifier.worker import CRITICAL_GROUP as CRITICAL_NOTIFIER_GROUP
from services.notifier.worker import GROUP as NOTIFIER_GROUP
from services.router.worker import GROUP as ROUTER_GROUP
from services.router.worker import PRIORITY_GROUP as PRIORITY_ROUTER_GROUP
from shared.topics import (
    ACTIONS,
    ACTIONS_CRITICAL,
    CLASSIFIED_PRIORITY,
    COMMENTS_CLASSIFIED,
    COMMENTS_NORMALIZED,
    COMMENTS_PRIORITY,
)

PIPELINE_GROUPS: dict[str, tuple[str, ...]] = {
    CLASSIFIER_GROUP: (COMMENTS_NORMALIZED,),
    PRIORITY_CLASSIFIER_GROUP: (COMMENTS_PRIORITY,),
    ROUTER_GROUP: (COMMENTS_CLASSIFIED,),
    PRIORITY_ROUTER_GROUP: (CLASSIFIED_PRIORITY,),
    NOTIFIER_GROUP: (ACTIONS,),
    CRITICAL_NOTIFIER_GROUP: (ACTIONS_CRITICAL,),
}
# The groups that route classified comments, each with the topic it reads.
ROUTING_GROUPS: dict[str, str] = {
    ROUTER_GROUP: COMMENTS_CLASSIFIED,
    PRIORITY_ROUTER_GROUP: CLASSIFIED_PRIORITY,
}
