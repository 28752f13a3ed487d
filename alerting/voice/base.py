"""What every voice provider implements, and the call results the receipts report.

Kept free of any SDK import: the incident service plans calls with it and must start fast.
"""

from __future__ import annotations

from typing import Protocol

ACK_KEY = "1"

# Alibaba Cloud VoiceReport's final status codes (呼叫结果状态码) a family call can end with.
CALL_RESULTS: dict[str, str] = {
    "200000": "已接听 / answered",
    "200001": "提前挂机 / hung up early",
    "200002": "占线 / busy",
    "200003": "无人接听 / no answer",
    "200004": "号码不合法 / invalid number",
    "200005": "无法接通 / unreachable",
    "200007": "不在服务区 / out of service area",
    "200008": "未按键 / no key pressed",
    "200010": "关机 / powered off",
    "200011": "停机 / suspended",
}
FINAL_CODES = frozenset(CALL_RESULTS) | {"200100"}  # 200100: VoiceCallReport's "call ended"


class VoiceProvider(Protocol):
    name: str

    async def call(self, *, key: str, to: str, params: dict[str, str]) -> str:
        """Place the call; returns the provider's call id."""
        ...
