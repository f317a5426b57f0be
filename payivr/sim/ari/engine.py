"""The simulated Asterisk: its state, and the parts that act on it.

Everything runs on the event loop without polling: timers are ``loop.call_later`` through
:class:`~.model.Clock` (scaled by ``time_scale``), and only channels running dialplan have a
task. Events go to applications as Asterisk routes them (:mod:`.events`): channel events to
the apps subscribed to the channel (its Stasis app, the app that originated it, explicit
subscriptions), bridge events to the apps subscribed to the bridge. The rules reproduce the
recordings in ``tests/fixtures/ari/traces`` (see the package docstring for the list).

Each concern is one part, reached from the others through the engine:

- ``router`` (:mod:`.events`): applications, sockets, subscriptions, events and variables;
- ``lifecycle`` (:mod:`.channels`): channels, the phones behind them, hang-ups, snoops;
- ``dialler`` (:mod:`.dialling`): originate and dial;
- ``dtmf`` (:mod:`.dtmf`): keys, feature codes, ``Read()``;
- ``media`` (:mod:`.media`): what phones hear, playbacks, hold and music on hold;
- ``talk`` (:mod:`.talk`): ``TALK_DETECT``;
- ``bridging`` (:mod:`.bridges`): bridges;
- ``stasis`` (:mod:`.stasis`): ``Stasis()``, continue, move, redirect;
- ``pbx`` (:mod:`.pbx`): the dialplan run on channels, with :mod:`.applications`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .bridges import Bridging
from .channels import ChannelLifecycle
from .dialling import Dialler
from .dialplan import Dialplan
from .dtmf import DtmfRouter
from .events import EventDelivery
from .media import Media
from .model import ASTERISK_ID, Clock, SimBridge, SimChannel
from .pbx import Pbx
from .sounds import SoundLibrary
from .stasis import StasisRunner
from .talk import TalkDetector

if TYPE_CHECKING:
    from .phones import SimPhone


class Engine:
    """The simulated Asterisk behind the REST and WebSocket front (see :mod:`.server`)."""

    def __init__(
        self, clock: Clock, sounds: SoundLibrary, dialplan: Dialplan, asterisk_id: str = ASTERISK_ID
    ) -> None:
        self.clock = clock
        self.asterisk_id = asterisk_id  # the entity id (asterisk.conf entityid)
        self.sounds = sounds
        self.dialplan = dialplan
        self.channels: dict[str, SimChannel] = {}
        self.bridges: dict[str, SimBridge] = {}
        self.phones: dict[str, SimPhone] = {}  # by lower-cased endpoint
        self.global_variables = dialplan.global_variables  # [globals], AMI/ARI setters
        self.started = 0.0
        self.router = EventDelivery(self)
        self.lifecycle = ChannelLifecycle(self)
        self.dialler = Dialler(self)
        self.dtmf = DtmfRouter(self)
        self.media = Media(self)
        self.talk = TalkDetector(self)
        self.bridging = Bridging(self)
        self.stasis = StasisRunner(self)
        self.pbx = Pbx(self)
