"""actorgrid's storage: engine factory, models, group-commit writer and migrations runner."""

from __future__ import annotations

from ._models import KEY_MAX_LENGTH as KEY_MAX_LENGTH
from ._models import MESSAGE_STATES as MESSAGE_STATES
from ._models import Base as Base
from ._models import DeadLetter as DeadLetter
from ._models import MessageRow as MessageRow
from ._models import ReferenceChunk as ReferenceChunk
from ._models import RetryRecordRow as RetryRecordRow
