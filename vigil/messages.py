"""The message catalogue: every sentence and label a console user reads, by code, in Chinese and
English, and the one renderer both the API and the web client follow.

A system sentence is stored as a code with parameters (`{"code": "tl.open", "params": {...}}`)
and rendered when it is read, in the reader's language and the district's time zone. Templates
name parameters in braces with an optional format: `{device}` as it is, `{at:time}` a local
time ("12月6日 13:48:55"), `{late:dur}` a duration ("15 秒"), `{kind:label.kind}` a label from
this catalogue, `{reason:msg}` a nested message, `{x:n1}` a number with one decimal. A
parameter may itself be `{"zh": ..., "en": ...}` (a name from a policy file), picked by
language. Pure: no I/O, so the detectors may use it for their reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT_TIMEZONE = "Asia/Shanghai"

_L = dict[str, tuple[str, str]]

LABELS: dict[str, _L] = {
    "cause": {
        "fire": ("火警", "fire"),
        "panic": ("紧急呼叫", "panic call"),
        "inactivity": ("长时间无活动", "no activity"),
        "offline": ("设备离线", "device offline"),
        "gateway_offline": ("网关离线", "gateway offline"),
        "battery_low": ("电池电量低", "low battery"),
        "tamper": ("设备被拆动", "device tampered"),
        "sensor_fault": ("传感器故障", "sensor fault"),
        "dirty": ("探测器需清洁", "detector needs cleaning"),
        "smoke": ("烟雾", "smoke"),
        "heat": ("高温", "heat"),
        "co": ("一氧化碳", "carbon monoxide"),
        "cooking": ("烹饪油烟", "cooking smoke"),
        "wellness": ("健康关怀", "wellness check"),
        "gas": ("燃气泄漏", "gas leak"),
        "water_leak": ("漏水", "water leak"),
    },
    "kind": {
        "fire": ("火灾", "fire"),
        "smoke": ("烟雾报警", "smoke alarm"),
        "heat": ("高温报警", "heat alarm"),
        "panic": ("紧急按钮", "panic button"),
        "inactivity": ("长时间无活动", "no activity"),
        "pre_alarm": ("烟雾预警", "smoke pre-alarm"),
        "offline": ("设备离线", "device offline"),
        "battery_low": ("电池电量低", "low battery"),
        "tamper": ("设备被拆动", "tamper"),
        "sensor_fault": ("传感器故障", "sensor fault"),
        "dirty": ("探测器脏污", "dirty detector"),
        "false_press": ("误按已取消", "press cancelled"),
        "co": ("一氧化碳报警", "CO alarm"),
        "gateway_offline": ("网关离线", "gateway offline"),
        "cooking": ("烹饪油烟", "cooking smoke"),
        "hush": ("已消音", "hushed"),
        "gas": ("燃气报警", "gas alarm"),
        "water_leak": ("漏水报警", "water leak"),
    },
    "signal": {
        "alarm": ("火警/求救", "alarm"),
        "supervisory": ("监管", "supervisory"),
        "trouble": ("故障", "trouble"),
    },
    "state": {
        "new": ("新警情", "new"),
        "acknowledged": ("已确认", "acknowledged"),
        "dispatched": ("已派单", "dispatched"),
        "on_site": ("已到场", "on site"),
        "resolved": ("已处置", "resolved"),
        "false_alarm": ("误报", "false alarm"),
        "test": ("测试", "test"),
    },
    "action": {
        "open": ("报警", "opened"),
        "evidence": ("新证据", "new evidence"),
        "acknowledge": ("确认", "acknowledge"),
        "dispatch": ("派单", "dispatch"),
        "arrive": ("到场", "arrived"),
        "note": ("备注", "note"),
        "resolve": ("处置完成", "resolve"),
        "false_alarm": ("误报", "false alarm"),
        "mark_test": ("标为测试", "mark as test"),
        "escalate": ("升级", "escalate"),
        "reopen": ("重新打开", "reopen"),
        "notification_failed": ("通知失败", "notification failed"),
        "family_ack": ("家属已确认", "family acknowledged"),
        "family_reply": ("家属回复", "family replied"),
        "call_key": ("家属电话按键", "family pressed a key"),
        "call_cancelled": ("呼叫已取消", "call cancelled"),
        "call_unanswered": ("电话无人接听", "call unanswered"),
        "family_unreached": ("未联系上家属", "family not reached"),
        "notification_delayed": ("通知延后（免打扰时段）", "notification held (quiet hours)"),
        "sms_undelivered": ("短信未送达", "SMS not delivered"),
        "restored": ("已恢复", "restored"),
        "accept": ("已接单", "accepted"),
        "photo": ("现场照片", "photo"),
        "hush": ("已消音", "hushed"),
    },
    "status": {
        "pending": ("待发送", "pending"),
        "sending": ("发送中", "sending"),
        "sent": ("已发送", "sent"),
        "delivered": ("已送达", "delivered"),
        "failed": ("失败", "failed"),
    },
    "channel": {
        "sms": ("短信", "SMS"),
        "console": ("值班台", "console"),
        "grid_member": ("网格员手机", "grid member's phone"),
        "push": ("推送", "push"),
        "voice": ("语音电话", "voice call"),
        "email": ("邮件", "e-mail"),
        "wecom": ("企业微信群", "WeCom group"),
        "webhook": ("外部系统", "webhook"),
        "webpush": ("手机推送", "phone push"),
    },
    "type": {
        "smoke": ("感烟探测器", "smoke detector"),
        "heat": ("感温探测器", "heat detector"),
        "multi": ("复合探测器", "multi-sensor detector"),
        "panic": ("紧急按钮", "panic button"),
        "pir": ("人体红外", "motion sensor"),
        "door": ("门磁", "door contact"),
        "co": ("一氧化碳探测器", "CO detector"),
        "smoke_alarm": ("独立式感烟报警器", "smoke alarm (reports its own alarm)"),
        "co_alarm": ("一氧化碳报警器", "CO alarm"),
        "gas_alarm": ("可燃气体报警器", "gas alarm"),
        "water_alarm": ("水浸探测器", "water leak sensor"),
        "sos": ("一键求助按钮", "SOS button"),
        "alarm_panel": ("报警主机", "alarm panel"),
    },
    "metric": {
        "smoke_obscuration": ("烟雾浓度", "smoke"),
        "temperature": ("温度", "temperature"),
        "co": ("一氧化碳", "CO"),
        "battery": ("电池电压", "battery"),
        "tamper": ("防拆", "tamper"),
        "button": ("按钮", "button"),
        "motion": ("活动", "motion"),
        "door": ("门", "door"),
        "self_test": ("自检", "self-test"),
        "hush": ("消音键", "silence button"),
        "smoke_alarm": ("烟雾报警状态", "smoke alarm state"),
        "heat_alarm": ("高温报警状态", "heat alarm state"),
        "co_alarm": ("一氧化碳报警状态", "CO alarm state"),
        "gas_alarm": ("燃气报警状态", "gas alarm state"),
        "water_leak": ("漏水状态", "water leak state"),
        "low_battery": ("低电量", "low battery"),
        "fault": ("故障", "fault"),
        "availability": ("在线状态", "availability"),
        "battery_pct": ("电量", "battery"),
        "link_quality": ("信号质量", "link quality"),
        "rsrp": ("信号强度（RSRP）", "signal (RSRP)"),
        "snr": ("信噪比", "SNR"),
        "csq": ("信号质量（CSQ）", "signal (CSQ)"),
        "gas_lel": ("可燃气体浓度", "combustible gas"),
    },
    "room": {
        "kitchen": ("厨房", "kitchen"),
        "bedroom": ("卧室", "bedroom"),
        "living_room": ("客厅", "living room"),
        "entrance": ("门厅", "entrance"),
        "bathroom": ("卫生间", "bathroom"),
        "hallway": ("走廊", "hallway"),
        "balcony": ("阳台", "balcony"),
        "study": ("书房", "study"),
        "dining_room": ("餐厅", "dining room"),
        "stairwell": ("楼梯间", "stairwell"),
        "garage": ("车库", "garage"),
    },
    "stage": {
        "acknowledge": ("超时未确认", "not acknowledged in time"),
        "dispatch": ("超时未派单", "not dispatched in time"),
        "arrive": ("超时未到场", "nobody on site in time"),
        "manual": ("人工升级", "escalated by the centre"),
        "start": ("重大事件", "major incident"),
    },
    "source": {
        "vigil": ("自有网关", "Vigil gateway"),
        "zigbee2mqtt": ("Zigbee 网关", "zigbee2mqtt hub"),
        "dc09": ("报警主机（DC-09）", "alarm panel (DC-09)"),
        "ctwing": ("电信物联网平台", "CTWing platform"),
        "onenet": ("移动物联网平台", "OneNET platform"),
    },
    "scope": {
        "household": ("住户", "household"),
        "building": ("楼栋", "building"),
    },
    "mobility": {
        "independent": ("行动自如", "walks unaided"),
        "walking_aid": ("需助行器", "walks with an aid"),
        "wheelchair": ("轮椅", "wheelchair"),
        "bedridden": ("卧床", "bedridden"),
    },
    "role": {
        "operator": ("值班员", "operator"),
        "supervisor": ("主管", "supervisor"),
        "grid_member": ("网格员", "grid member"),
        "installer": ("安装员", "installer"),
        "admin": ("管理员", "admin"),
        "system": ("系统", "system"),
    },
    "rule": {
        "smoke_with_heat": ("烟雾伴随升温", "smoke with rising heat"),
        "smoke_with_co": ("烟雾伴随一氧化碳", "smoke with CO"),
        "smoke_high": ("浓烟", "dense smoke"),
        "smoke_keeps_rising": ("烟雾持续上升", "smoke keeps rising"),
        "slow_rise_cusum": ("阴燃（烟雾缓慢累积）", "smouldering (slow smoke build-up)"),
        "smoke_pre_alarm": ("烟雾预警", "smoke pre-alarm"),
        "heat_rising": ("温度上升", "heat rising"),
        "heat_fixed_temperature": ("定温报警", "fixed temperature"),
        "heat_rate_of_rise": ("差温报警", "rate of rise"),
        "co_level": ("一氧化碳超标", "CO level"),
        "panic_press": ("按下紧急按钮", "panic button pressed"),
        "cancel_within_grace": ("宽限期内取消", "cancelled within grace"),
        "battery_low": ("电池电量低", "low battery"),
        "tamper": ("被拆动", "tamper"),
        "implausible_value": ("读数异常", "implausible reading"),
        "stuck_value": ("读数不变", "stuck reading"),
        "self_test_failed": ("自检失败", "self-test failed"),
        "baseline_drift": ("基线漂移", "baseline drift"),
        "silence": ("心跳超时", "silent"),
        "activity_pattern": ("偏离日常活动规律", "activity pattern broken"),
        "max_silence": ("无活动超过上限", "no activity too long"),
        "away_too_long": ("外出未归", "out too long"),
        "cleared": ("已恢复", "cleared"),
        "restored": ("已恢复", "restored"),
        "coincidence": ("多设备同时报警", "several devices at once"),
        "gateway_status": ("网关状态", "gateway status"),
        "gateway_silence": ("网关失联", "gateway silent"),
        "smoke_verified": ("烟雾确认", "smoke verified"),
        "cooking_smoke": ("烹饪油烟", "cooking smoke"),
        "smoke_after_heat": ("停火后烟雾仍上升", "smoke rising after the heat stopped"),
        "dense_smoke_with_heat": ("浓烟伴随升温", "dense smoke with heat"),
        "hush_button": ("按下消音键", "silence button"),
        "hush_console": ("电话确认在烹饪", "cooking confirmed by phone"),
        "device_declared": ("设备自报", "declared by the device"),
        "device_restored": ("设备自报恢复", "restored by the device"),
        "not_up": ("未按时起床", "not up"),
        "silent_at_home": ("在家长时间无活动", "silent at home"),
        "out_not_back": ("外出未归", "out and not back"),
    },
}

# Sentences: codes with parameters.
MESSAGES: dict[str, tuple[str, str]] = {
    # -- alert reasons (detectors/explain.py): "reason.<rule>"
    "reason.smoke_with_heat": (
        "烟雾高出基线 {smoke:n1} %/m，温度上升 {trise:n1} °C（每分钟 {ror:n1} °C）",
        "smoke {smoke:n1} %/m over baseline with heat +{trise:n1} °C rising {ror:n1} °C/min",
    ),
    "reason.smoke_with_co": (
        "烟雾高出基线 {smoke:n1} %/m，一氧化碳升高 {co:n0} ppm",
        "smoke {smoke:n1} %/m over baseline with CO +{co:n0} ppm",
    ),
    "reason.smoke_high": (
        "浓烟：高出基线 {smoke:n1} %/m（报警阈值 {limit} %/m）",
        "dense smoke {smoke:n1} %/m over baseline (alarm at {limit} %/m)",
    ),
    "reason.smoke_keeps_rising": (
        "烟雾高出基线 {smoke:n1} %/m，仍以每分钟 {rise:n1} %/m 上升，已持续 {since:dur}",
        "smoke {smoke:n1} %/m over baseline still rising {rise:n1} %/m per min, "
        "{since:dur} after it began",
    ),
    "reason.slow_rise_cusum": (
        "阴燃：烟雾持续高于 {k} %/m，累积 {cusum:n0} %/m·分（上限 {limit}）",
        "smouldering: smoke held above {k} %/m, CUSUM {cusum:n0} %/m·min (limit {limit})",
    ),
    "reason.smoke_verified": (
        "烟雾高出基线 {smoke:n1} %/m，在报警水平（{limit} %/m）保持了 {hold:dur}（报警确认）",
        "smoke {smoke:n1} %/m over baseline held at the alarm level ({limit} %/m) "
        "for {hold:dur} (alarm verification)",
    ),
    "reason.smoke_pre_alarm": (
        "烟雾高出基线 {smoke:n1} %/m，无升温（预警阈值 {limit} %/m）：可能是烹饪、水汽或早期火情",
        "smoke {smoke:n1} %/m over baseline without heat (pre-alarm at {limit} %/m): "
        "cooking, steam or an early fire",
    ),
    "reason.heat_rising": (
        "温度上升 {trise:n1} °C（每分钟 {ror:n1} °C）",
        "heat +{trise:n1} °C rising {ror:n1} °C/min",
    ),
    "reason.heat_fixed_temperature": (
        "温度 {value:n1} °C，达到或超过 {limit} °C（EN 54-5 A1）",
        "temperature {value:n1} °C at or above {limit} °C (EN 54-5 A1)",
    ),
    "reason.heat_rate_of_rise": (
        "温度每分钟上升 {ror:n1} °C（上限 {limit}），高出基线 {trise:n1} °C",
        "temperature rising {ror:n1} °C/min (limit {limit}), +{trise:n1} °C over baseline",
    ),
    "reason.co_level": (
        "一氧化碳平均 {ppm:n0} ppm（报警阈值 {limit}）",
        "CO averaging {ppm:n0} ppm (alarm at {limit})",
    ),
    "reason.panic_press": ("按下了紧急按钮", "panic button pressed"),
    "reason.routine": ("{text}", "{text}"),
    "reason.cooking_smoke": (
        "厨房烹饪油烟：烟雾高出基线 {smoke:n1} %/m，升温 {trise:n1} °C（灶台通常低于 {stove} °C），"
        "无火灾迹象；一旦出现一氧化碳、更高温度、更浓烟雾或厨房外有烟即转为火警",
        "cooking smoke in the kitchen: {smoke:n1} %/m over baseline, heat +{trise:n1} °C (a stove "
        "gives under {stove}), no fire evidence; becomes a fire alarm if CO, more heat, denser "
        "smoke or smoke outside the kitchen appear",
    ),
    "reason.smoke_after_heat": (
        "停止升温 {after:dur} 后烟雾仍以每分钟 {rise:n1} %/m 上升，已高出基线 {smoke:n1} %/m",
        "smoke {smoke:n1} %/m over baseline still rising {rise:n1} %/m per min {after:dur} after "
        "the heat stopped rising",
    ),
    "reason.dense_smoke_with_heat": (
        "烟雾高出基线 {smoke:n1} %/m，超过烹饪水平（{limit} %/m），且升温 {trise:n1} °C、"
        "每分钟 {ror:n1} °C",
        "smoke {smoke:n1} %/m over baseline, beyond cooking ({limit} %/m), with heat "
        "+{trise:n1} °C rising {ror:n1} °C/min",
    ),
    "reason.hush_button": (
        "按下消音键：本房间仅烟雾类报警暂停 {hush:dur}",
        "silence button pressed: this room's smoke-only alarms hushed for {hush:dur}",
    ),
    "reason.hush_button_none": (
        "按下消音键（本房间不支持消音，未抑制任何报警）",
        "silence button pressed (this room has no hush: nothing suppressed)",
    ),
    "reason.device_declared": (
        "设备自身报告：{metric:label.metric} = {value}",
        "the device declared it: {metric:label.metric} = {value}",
    ),
    "reason.device_restored": (
        "设备自身报告已恢复：{metric:label.metric} = {value}",
        "the device declared it over: {metric:label.metric} = {value}",
    ),
    "reason.cancel_within_grace": (
        "{after:dur} 后取消（宽限期 {grace:dur}）：误按",
        "press cancelled after {after:dur} (grace {grace:dur}): false press",
    ),
    "reason.battery_low": (
        "电池 {value:n2} V，低于 {limit} V",
        "battery {value:n2} V below {limit} V",
    ),
    "reason.tamper": ("设备被打开或从底座取下", "opened or removed from its base"),
    "reason.implausible_value": (
        "{metric:label.metric} 读数 {value} 不合理，连续 {count} 次",
        "{metric:label.metric} {value} implausible, {count} in a row",
    ),
    "reason.stuck_value": (
        "{metric:label.metric} 读数 {value} 数小时不变：传感器卡滞",
        "{metric:label.metric} {value} unchanged for hours: stuck sensor",
    ),
    "reason.self_test_failed": ("自检失败", "self-test failed"),
    "reason.baseline_drift": (
        "烟雾基线漂移到 {base:n1} %/m（上限 {limit} %/m）：请清洁或更换迷宫",
        "smoke baseline drifted to {base:n1} %/m (limit {limit} %/m): clean or replace the chamber",
    ),
    "reason.silence": (
        "{after:dur} 未收到任何数据（心跳容限）",
        "nothing received for {after:dur} (heartbeat allowance)",
    ),
    "reason.activity_pattern": (
        "已 {quiet:dur} 无活动，按该户日常规律应有 {expected:n0} 段活动",
        "no activity for {quiet:dur} where this household's pattern expected "
        "{expected:n0} active periods",
    ),
    "reason.max_silence": ("已 {quiet:dur} 无活动", "no activity for {quiet:dur}"),
    "reason.away_too_long": (
        "外出（开门后无活动）已 {quiet:dur}",
        "out (door, then no motion) for {quiet:dur}",
    ),
    "reason.gateway_silence": (
        "网关下全部 {count} 个设备已 {after:dur} 无任何消息",
        "nothing received from any of its {count} devices for {after:dur}",
    ),
    "reason.gateway_status": ("网关 {gateway} 报告离线", "gateway {gateway} reported offline"),
    "reason.coincidence": (
        "预警经同一{scope:label.scope}的 {other} 报警确认",
        "pre-alarm confirmed by {other} in alarm in the same {scope:label.scope}",
    ),
    "reason.with_confirmation": (
        "{reason:msg}；经同一{scope:label.scope}的 {other} 确认",
        "{reason:msg}; confirmed by {other} in the same {scope:label.scope}",
    ),
    "reason.confirmed_by": (
        "经同一{scope:label.scope}的 {other} 确认",
        "confirmed by {other} in the same {scope:label.scope}",
    ),
    # -- timeline entries written by alerting
    "tl.open": (
        "{kind:label.kind}：{device}（{room:label.room}）{reason:msg}",
        "{kind:label.kind} on {device} ({room:label.room}): {reason:msg}",
    ),
    "tl.open_unregistered": (
        "{kind:label.kind}：{device} {reason:msg}（住户 {household} 未登记）",
        "{kind:label.kind} on {device}: {reason:msg} (household {household} is not registered)",
    ),
    "tl.comment": (
        "{kind:label.kind}：{device}（{room:label.room}）{reason:msg}",
        "{kind:label.kind} on {device} ({room:label.room}): {reason:msg}",
    ),
    "tl.joined": (
        "{kind:label.kind}：{device}（{room:label.room}）{reason:msg}；级别 {before}→{after}",
        "{kind:label.kind} on {device} ({room:label.room}) joined: {reason:msg}; "
        "severity {before}→{after}",
    ),
    "tl.escalate": (
        "{stage:label.stage}（期限 {deadline:time}）：{from} → {to}",
        "{stage:label.stage} (deadline {deadline:time}): {from} → {to}",
    ),
    "tl.escalate_late": (
        "超时 {waited:dur}未{step:label.step}：{from} → {to}（期限 {deadline:time}）",
        "not {step:label.step} within {waited:dur}: {from} → {to} (deadline {deadline:time})",
    ),
    "tl.notification_failed": (
        "{channel:label.channel}发给 {recipient} 失败：{error}",
        "{channel:label.channel} to {recipient} failed: {error}",
    ),
    "tl.family_reply": ("家属短信：“{body}”", "family SMS: “{body}”"),
    "tl.unparsed": ("（系统记录）{text}", "(system record) {text}"),
    # -- refusals the console answers with
    "err.state_changed": (
        "该警情已由 {actor} 于 {at:time} {action:label.action}，当前状态：{state:label.state}。"
        "请查看最新情况后再操作。",
        "{actor} already did “{action:label.action}” at {at:time}; the incident is now "
        "{state:label.state}. Look at it again before acting.",
    ),
    "err.illegal": (
        "当前状态为「{state:label.state}」，不能{action:label.action}。",
        "The incident is {state:label.state}; it cannot be “{action:label.action}” now.",
    ),
    "err.not_allowed": (
        "您的角色（{role:label.role}）不能{action:label.action}。",
        "Your role ({role:label.role}) may not “{action:label.action}”.",
    ),
    "err.no_grid_member": (
        "该网格没有网格员，请选择派给谁。",
        "This grid has no grid member; choose whom to send.",
    ),
    "err.already_open": (
        "该住户已有一起同类警情 #{other} 未关闭。",
        "Incident #{other} of the same cause is already open for this household.",
    ),
    "err.top_tier": (
        "已经是最高一级，无法再升级。",
        "Already at the top tier; nothing to escalate to.",
    ),
    # -- presence
    "presence.viewing": ("{name} 正在查看", "{name} is looking at it"),
    "presence.handling": ("{name} 正在处理", "{name} is handling it"),
}

# Steps named in "not <step> within": the escalation stages as verbs.
LABELS["step"] = {
    "acknowledge": ("确认", "acknowledged"),
    "dispatch": ("派单", "dispatched"),
    "arrive": ("到场", "reached"),
}

# Report headings and CSV headers.
MESSAGES.update(
    {
        "report.grid": ("网格", "grid"),
        "report.department": ("部门", "department"),
        "report.cause": ("原因", "cause"),
        "report.key": ("分组", "group"),
        "report.incidents": ("警情数", "incidents"),
        "report.acknowledged": ("已确认数", "acknowledged"),
        "report.ack_p50_s": ("确认中位数（秒）", "acknowledge median (s)"),
        "report.arrive_p50_s": ("到场中位数（秒）", "arrive median (s)"),
        "report.close_p50_s": ("处置中位数（秒）", "close median (s)"),
        "report.closed": ("已关闭数", "closed"),
        "report.rate": ("误报率", "false-alarm rate"),
        "report.signal": ("类别", "class"),
        "report.ack_median_s": ("确认中位数（秒）", "acknowledge median (s)"),
        "report.ack_p90_s": ("确认90分位（秒）", "acknowledge p90 (s)"),
        "report.arrive_median_s": ("到场中位数（秒）", "arrive median (s)"),
        "report.close_median_s": ("处置中位数（秒）", "close median (s)"),
        "report.false_alarms": ("误报数", "false alarms"),
        "report.false_alarm_rate": ("误报率", "false-alarm rate"),
        "report.week": ("周", "week"),
        "report.alarm": ("火警/求救", "alarm"),
        "report.supervisory": ("监管", "supervisory"),
        "report.trouble": ("故障", "trouble"),
        "report.total": ("合计", "total"),
    }
)

_FIELD = re.compile(r"\{(\w+)(?::([\w.]+))?\}")
_STAIRWELL = re.compile(r"^stairwell-(\d+)F$")


def language_of(value: str | None) -> Language:
    """The language an Accept-Language header or a `lang` parameter asks for; Chinese if unsure."""
    if value and value.strip().lower().startswith("en"):
        return "en"
    return "zh"


def label(kind: str, value: str | None, lang: Language) -> str:
    """A catalogue label ("room", "kitchen") in `lang`; unknown values are shown as they are."""
    if value is None or value == "":
        return "—"
    found = LABELS.get(kind, {}).get(value)
    if found is not None:
        return found[0] if lang == "zh" else found[1]
    if kind == "room":
        m = _STAIRWELL.match(value)
        if m:
            return f"{m.group(1)}层楼梯间" if lang == "zh" else f"stairwell, floor {m.group(1)}"
    return value


def format_time(value: str | datetime, lang: Language, tz: str = DEFAULT_TIMEZONE) -> str:
    """A moment in the district's local time: "12月6日 13:48:55" or "6 Dec 13:48:55"."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(tz))
    if lang == "zh":
        return f"{local.month}月{local.day}日 {local:%H:%M:%S}"
    return f"{local.day} {local:%b %H:%M:%S}"


def format_duration(seconds: float, lang: Language) -> str:
    """A span people read at a glance: "15 秒", "2 分 5 秒", "1 小时 3 分" (or "15 s"...)."""
    s = max(0, round(float(seconds)))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    zh = lang == "zh"
    if h:
        return f"{h} 小时 {m} 分" if zh else f"{h} h {m} min"
    if m:
        return (
            (f"{m} 分 {sec} 秒" if zh else f"{m} min {sec} s")
            if sec
            else (f"{m} 分钟" if zh else f"{m} min")
        )
    return f"{sec} 秒" if zh else f"{sec} s"


def _number(value: Any, digits: int | None) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if digits is None:
        return f"{value:g}"
    return f"{value:.{digits}f}"


def _field(  # noqa: PLR0911
    value: Any, fmt: str | None, lang: Language, tz: str
) -> str:
    if isinstance(value, Mapping) and set(value) >= {"zh", "en"}:
        value = value[lang]
    if fmt is None:
        return _number(value, None) if isinstance(value, float) else str(value)
    if fmt == "msg":
        if isinstance(value, Mapping) and "code" in value:
            return render(str(value["code"]), value.get("params") or {}, lang, tz)
        return str(value)
    if value is None:
        return "—"
    if fmt == "time":
        return format_time(str(value), lang, tz)
    if fmt == "dur":
        return format_duration(float(value), lang)
    if fmt.startswith("n") and fmt[1:].isdigit():
        return _number(value, int(fmt[1:]))
    if fmt.startswith("label."):
        return label(fmt[6:], str(value), lang)
    return str(value)


def render(
    code: str, params: Mapping[str, Any] | None, lang: Language, tz: str = DEFAULT_TIMEZONE
) -> str:
    """The sentence `code` in `lang`; a code the catalogue lacks renders as its label if it is one
    ("rule.smoke_high"), else as the code itself (visible, never silently empty)."""
    template = MESSAGES.get(code)
    if template is None:
        kind, _, value = code.partition(".")
        return label(kind, value, lang) if kind in LABELS else code
    text = template[0] if lang == "zh" else template[1]
    values = params or {}
    return _FIELD.sub(
        lambda m: (
            _field(values.get(m.group(1)), m.group(2), lang, tz) if m.group(1) in values else "—"
        ),
        text,
    )


def catalogue(lang: Language) -> dict[str, str]:
    """The whole catalogue in one language, flat ("room.kitchen": "厨房"), for the web client."""
    i = 0 if lang == "zh" else 1
    out = {
        f"{kind}.{value}": pair[i]
        for kind, table in LABELS.items()
        for value, pair in table.items()
    }
    out.update({code: pair[i] for code, pair in MESSAGES.items()})
    return out
