// Chinese first, English on request; the choice is kept in localStorage.
const STRINGS = {
  zh: {
    title: "Vigil 社区消防与独居老人报警平台",
    "nav.board": "实时警情", "nav.map": "辖区地图", "nav.devices": "设备健康",
    "nav.registry": "住户档案", "nav.reports": "统计报表",
    "login.title": "登录", "login.username": "用户名", "login.password": "密码",
    "login.submit": "登录", "login.failed": "用户名或密码错误", "login.slow": "尝试次数过多，请稍后再试",
    logout: "退出", "live.on": "实时连接", "live.off": "连接中断，正在重连",
    "board.empty": "当前没有未处理的警情", "board.count": "未处理警情",
    "col.signal": "类别", "col.cause": "原因", "col.severity": "级别", "col.address": "地址",
    "col.resident": "居民", "col.state": "状态", "col.waited": "等待", "col.actions": "操作",
    "col.assignee": "处置人", "col.grid": "网格", "col.device": "设备", "col.type": "类型",
    "col.room": "位置", "col.last_seen": "最后上报", "col.battery": "电池", "col.health": "状况",
    "col.phone": "电话", "col.age": "年龄", "col.relation": "关系", "col.contacts": "联系人",
    "col.household": "住户编号", "col.alone": "独居", "col.priority": "顺序",
    "signal.alarm": "火警/求救", "signal.supervisory": "监管", "signal.trouble": "故障",
    "cause.fire": "火灾", "cause.smoke": "烟雾", "cause.heat": "高温", "cause.panic": "紧急呼叫",
    "cause.inactivity": "长时间无活动", "cause.offline": "设备离线", "cause.low_battery": "电量低",
    "cause.tamper": "防拆", "cause.fault": "设备故障", "cause.co": "一氧化碳",
    "cause.cooking": "厨房烹饪烟雾", "cause.hush": "厨房静音",
    "hush.button": "电话确认在做饭：厨房静音10分钟", "hush.done": "厨房烟雾报警已静音至",
    "hush.confirm": "已电话联系居民，确认是做饭？厨房的纯烟雾报警将静音10分钟；高温、一氧化碳和其他房间照常报警。",
    "state.new": "新警情", "state.acknowledged": "已确认", "state.dispatched": "已派单",
    "state.on_site": "已到场", "state.resolved": "已处置", "state.false_alarm": "误报",
    "state.test": "测试",
    "action.acknowledge": "确认", "action.dispatch": "派单", "action.arrive": "到场",
    "action.resolve": "处置完成", "action.false_alarm": "误报", "action.mark_test": "标为测试",
    "action.reopen": "重新打开", "action.note": "备注", "action.escalate": "升级",
    "action.open": "报警", "action.sms_sent": "短信已发", "action.sms_undelivered": "短信未送达", "action.call_placed": "呼叫家属",
    "action.call_key": "家属按键", "action.family_ack": "家属确认", "action.family_reply": "家属回复",
    "action.call_unanswered": "电话未确认", "action.call_cancelled": "取消呼叫",
    "action.family_unreached": "家属未联系上", "action.notification_delayed": "通知延迟",
    "action.notification_failed": "通知失败", "age.unit": "岁", "note.prompt": "备注内容", "dispatch.prompt": "派给谁",
    "ok": "确定", "cancel": "取消", "alone": "独居", "detail": "详情", "back": "返回",
    "incident.timeline": "处置时间线", "incident.curves": "报警前后传感器曲线",
    "incident.resident": "住户信息", "incident.notifications": "通知与送达",
    "incident.alerts": "报警来源", "source.source": "来源", "source.account": "账号",
    "source.zone": "防区", "source.code": "代码",
    "source.events": "报警主机等第三方事件", "col.when": "时间", "col.event": "事件", "incident.no_curves": "该时段没有传感器数据",
    "incident.medical": "健康备注", "incident.notes": "住户备注", "incident.opened": "报警时间",
    "incident.seconds_from_alarm": "距报警（秒）",
    "notif.channel": "渠道", "notif.recipient": "接收人", "notif.status": "状态",
    "notif.sent": "发送", "notif.delivered": "送达", "notif.error": "错误",
    "status.pending": "待发送", "status.sending": "发送中", "status.sent": "已发送",
    "status.delivered": "已送达", "status.failed": "失败",
    "map.legend": "图例", "status.alarm": "报警", "status.ok": "正常",
    "status.supervisory": "监管", "status.trouble": "故障", "map.households": "户",
    "health.offline": "离线", "health.low_battery": "电量低", "health.dirty": "探测器脏污",
    "health.tamper": "被拆动", "health.fault": "故障", "health.ok": "正常",
    "health.poor_signal": "信号弱",
    "health.devices": "设备数", "health.problem": "筛选", "health.any": "全部异常",
    "health.broker_shedding": "消息代理队列已满，正在丢弃遥测消息（报警事件另有队列）",
    "health.all": "全部设备", "never": "从未",
    "registry.households": "住户", "registry.residents": "居民", "registry.contacts": "联系人",
    "registry.search": "搜索姓名、电话、地址…", "registry.total": "共",
    "reports.response": "响应时间（中位数，秒）", "reports.false": "误报率",
    "reports.weekly": "每周警情数", "reports.days": "统计天数", "reports.by": "分组",
    "reports.by_grid": "按网格", "reports.by_department": "按部门", "reports.by_cause": "按原因",
    "reports.csv": "导出 CSV", "reports.ack": "确认", "reports.arrive": "到场",
    "reports.close": "处置完成", "reports.forbidden": "您的角色无权查看报表",
    "error": "出错了", "forbidden": "无权限", "new_alarm": "新警情！",
    "role.operator": "值班员", "role.supervisor": "主管", "role.grid_member": "网格员",
    "role.installer": "安装员", "role.admin": "管理员",
    "type.smoke": "感烟", "type.heat": "感温", "type.multi": "复合", "type.panic": "紧急按钮",
    "type.pir": "红外", "type.door": "门磁", "lang.switch": "English",
    "type.smoke_alarm": "烟雾报警器", "type.co_alarm": "一氧化碳报警器", "type.gas_alarm": "燃气报警器",
    "type.water_alarm": "水浸", "type.sos": "紧急按钮", "col.source": "来源 / 型号",
    "cause.gas": "燃气泄漏", "cause.water_leak": "漏水", "cause.battery_low": "电量低",
    "metric.smoke_obscuration": "烟雾浓度", "metric.temperature": "温度", "metric.co": "一氧化碳",
    "metric.battery": "电池电压", "metric.tamper": "防拆", "metric.button": "按钮",
    "metric.motion": "活动", "metric.door": "门", "metric.self_test": "自检",
    "nav.handover": "交接班", "mute": "静音", "unmute": "恢复声音", "muted": "已静音（新警情仍会响铃）",
    "keys.hint": "快捷键：A 确认 · D 派单 · N 备注 · R 处置完成 · F 误报 · Esc 返回",
    "keys.board": "快捷键：↑↓ 选择 · Enter 打开 · A 确认",
    "presence.viewing": "正在查看", "presence.handling": "正在处理",
    "handover.title": "交接班：未关闭的警情", "handover.last": "最新进展", "handover.who": "在处理",
    "handover.none": "没有未关闭的警情", "handover.print": "打印",
    "ev.button": "紧急按钮", "ev.last_activity": "家中最后活动", "ev.keys": "钥匙持有人", "ev.has_key": "有钥匙",
    "ev.no_keys": "未登记钥匙持有人", "ev.no_activity": "近 7 天无活动记录", "ev.mobility": "行动能力",
    "ev.rules": "触发的报警规则", "ev.detectors": "本户及本楼全部探测器", "ev.device": "故障设备",
    "ev.history": "设备历史", "ev.threshold": "阈值", "ev.this_home": "本户", "ev.common": "公共区域",
    "ev.building": "楼栋", "ev.unit": "房号", "ev.household": "住户", "ev.value_on": "触发",
    "ev.cooking": "烹饪油烟/消音", "ev.routine": "日常活动规律",
    "ev.title.panic": "求救现场：按钮、最后活动与钥匙", "ev.title.fire": "火情证据：规则、阈值与全楼探测器",
    "ev.title.trouble": "设备故障：设备与历史", "ev.title.inactivity": "无活动：最后活动与钥匙",
    "ev.title.other": "报警来源",
    "col.kind": "报警类型", "col.rule": "规则", "col.time": "时间", "col.note": "说明",
    "actor.system": "系统", "notification.new": "新警情", "map.open": "未关闭警情", "map.no_open": "无未关闭警情",
    "map.units": "户", "map.street": "街道", "map.floors": "层",
    "conflict": "操作未执行", "history.none": "无记录", "metric.unit_pct": "%/m",
  },
  en: {
    title: "Vigil community fire safety and elderly alarms",
    "nav.board": "Live board", "nav.map": "District map", "nav.devices": "Device health",
    "nav.registry": "Registry", "nav.reports": "Reports",
    "login.title": "Sign in", "login.username": "Username", "login.password": "Password",
    "login.submit": "Sign in", "login.failed": "Wrong username or password",
    "login.slow": "Too many attempts; try again later",
    logout: "Sign out", "live.on": "Live", "live.off": "Disconnected, reconnecting",
    "board.empty": "No open incidents", "board.count": "Open incidents",
    "col.signal": "Class", "col.cause": "Cause", "col.severity": "Severity", "col.address": "Address",
    "col.resident": "Resident", "col.state": "State", "col.waited": "Waited", "col.actions": "Actions",
    "col.assignee": "Assignee", "col.grid": "Grid", "col.device": "Device", "col.type": "Type",
    "col.room": "Room", "col.last_seen": "Last seen", "col.battery": "Battery", "col.health": "Health",
    "col.phone": "Phone", "col.age": "Age", "col.relation": "Relation", "col.contacts": "Contacts",
    "col.household": "Household", "col.alone": "Alone", "col.priority": "Order",
    "signal.alarm": "Alarm", "signal.supervisory": "Supervisory", "signal.trouble": "Trouble",
    "cause.fire": "Fire", "cause.smoke": "Smoke", "cause.heat": "Heat", "cause.panic": "Panic",
    "cause.inactivity": "Inactivity", "cause.offline": "Offline", "cause.low_battery": "Low battery",
    "cause.tamper": "Tamper", "cause.fault": "Fault", "cause.co": "Carbon monoxide",
    "state.new": "New", "state.acknowledged": "Acknowledged", "state.dispatched": "Dispatched",
    "state.on_site": "On site", "state.resolved": "Resolved", "state.false_alarm": "False alarm",
    "state.test": "Test",
    "action.acknowledge": "Acknowledge", "action.dispatch": "Dispatch", "action.arrive": "Arrived",
    "action.resolve": "Resolve", "action.false_alarm": "False alarm", "action.mark_test": "Mark test",
    "action.reopen": "Reopen", "action.note": "Note", "action.escalate": "Escalate",
    "action.open": "Opened", "action.sms_sent": "SMS sent", "action.sms_undelivered": "SMS not delivered", "action.call_placed": "Calling family",
    "action.call_key": "Key pressed", "action.family_ack": "Family confirmed",
    "action.family_reply": "Family replied", "action.call_unanswered": "Call not confirmed",
    "action.call_cancelled": "Call cancelled", "action.family_unreached": "Family unreached",
    "action.notification_delayed": "Notification delayed",
    "action.notification_failed": "Notification failed", "age.unit": " years", "note.prompt": "Note", "dispatch.prompt": "Send whom",
    "ok": "OK", "cancel": "Cancel", "alone": "lives alone", "detail": "Details", "back": "Back",
    "incident.timeline": "Timeline", "incident.curves": "Sensor curves around the alarm",
    "incident.resident": "Resident", "incident.notifications": "Notifications and delivery",
    "incident.alerts": "Alerts", "source.source": "Source", "source.account": "account",
    "source.zone": "zone", "source.code": "code",
    "source.events": "Events from panels and hubs", "col.when": "Time", "col.event": "Event", "incident.no_curves": "No sensor data in this window",
    "incident.medical": "Medical notes", "incident.notes": "Household notes",
    "incident.opened": "Opened", "incident.seconds_from_alarm": "Seconds from the alarm",
    "notif.channel": "Channel", "notif.recipient": "Recipient", "notif.status": "Status",
    "notif.sent": "Sent", "notif.delivered": "Delivered", "notif.error": "Error",
    "status.pending": "Pending", "status.sending": "Sending", "status.sent": "Sent",
    "status.delivered": "Delivered", "status.failed": "Failed",
    "map.legend": "Legend", "status.alarm": "Alarm", "status.ok": "OK",
    "status.supervisory": "Supervisory", "status.trouble": "Trouble", "map.households": "homes",
    "health.offline": "Offline", "health.low_battery": "Low battery", "health.dirty": "Dirty",
    "health.tamper": "Tamper", "health.fault": "Fault", "health.ok": "OK",
    "health.poor_signal": "Poor signal",
    "health.devices": "Devices", "health.problem": "Show", "health.any": "Any problem",
    "health.broker_shedding": "Broker queues full: telemetry is being dropped (alarm events have their own queue)",
    "health.all": "All devices", "never": "never",
    "registry.households": "Households", "registry.residents": "Residents",
    "registry.contacts": "Contacts", "registry.search": "Search name, phone, address…",
    "registry.total": "total",
    "reports.response": "Response times (median, s)", "reports.false": "False-alarm rate",
    "reports.weekly": "Incidents per week", "reports.days": "Days", "reports.by": "Group by",
    "reports.by_grid": "Grid", "reports.by_department": "Department", "reports.by_cause": "Cause",
    "reports.csv": "Export CSV", "reports.ack": "Acknowledge", "reports.arrive": "Arrive",
    "reports.close": "Close", "reports.forbidden": "Your role cannot see reports",
    "error": "Error", "forbidden": "Not allowed", "new_alarm": "New alarm!",
    "role.operator": "operator", "role.supervisor": "supervisor", "role.grid_member": "grid member",
    "role.installer": "installer", "role.admin": "admin",
    "type.smoke": "smoke", "type.heat": "heat", "type.multi": "multi-sensor", "type.panic": "panic button",
    "type.pir": "PIR", "type.door": "door", "lang.switch": "中文",
    "type.smoke_alarm": "smoke alarm", "type.co_alarm": "CO alarm", "type.gas_alarm": "gas alarm",
    "type.water_alarm": "water leak", "type.sos": "SOS button", "col.source": "Source / model",
    "cause.gas": "Gas leak", "cause.water_leak": "Water leak", "cause.battery_low": "Low battery",
    "metric.smoke_obscuration": "smoke", "metric.temperature": "temperature", "metric.co": "CO",
    "metric.battery": "battery", "metric.tamper": "tamper", "metric.button": "button",
    "metric.motion": "motion", "metric.door": "door", "metric.self_test": "self-test",
    "cause.cooking": "Cooking smoke", "cause.hush": "Kitchen hushed",
    "hush.button": "Cooking, confirmed by phone: hush kitchen 10 min",
    "hush.done": "Kitchen smoke alarms hushed until",
    "hush.confirm": "Resident reached by phone and cooking? The kitchen's smoke-only alarms are hushed for 10 min; heat, CO and other rooms still alarm.",
    "nav.handover": "Hand-over", "mute": "Mute", "unmute": "Sound on", "muted": "Muted (a new alarm still rings)",
    "keys.hint": "Keys: A acknowledge · D dispatch · N note · R resolve · F false alarm · Esc back",
    "keys.board": "Keys: ↑↓ select · Enter open · A acknowledge",
    "presence.viewing": "is looking at it", "presence.handling": "is handling it",
    "handover.title": "Hand-over: incidents still open", "handover.last": "Latest", "handover.who": "On it",
    "handover.none": "No open incidents", "handover.print": "Print",
    "ev.button": "Panic button", "ev.last_activity": "Last activity in the home", "ev.keys": "Key holders", "ev.has_key": "holds a key",
    "ev.no_keys": "No key holder registered", "ev.no_activity": "No activity in the last 7 days",
    "ev.mobility": "Mobility", "ev.rules": "Rules that fired", "ev.detectors": "Every detector of the home and the building",
    "ev.device": "Device in trouble", "ev.history": "Device history", "ev.threshold": "threshold",
    "ev.this_home": "this home", "ev.common": "common parts", "ev.building": "Building", "ev.unit": "Flat",
    "ev.household": "Household", "ev.value_on": "on", "ev.cooking": "Cooking smoke / hush",
    "ev.routine": "Daily routine",
    "ev.title.panic": "Panic press: button, last activity and keys", "ev.title.fire": "Fire: rules, thresholds and every detector of the building",
    "ev.title.trouble": "Device trouble: the device and its history", "ev.title.inactivity": "No activity: last activity and keys",
    "ev.title.other": "Alerts",
    "col.kind": "Kind", "col.rule": "Rule", "col.time": "Time", "col.note": "Details",
    "actor.system": "system", "notification.new": "New alarm", "map.open": "Open incidents", "map.no_open": "No open incidents",
    "map.units": "homes", "map.street": "Street", "map.floors": "floors",
    "conflict": "Not done", "history.none": "Nothing recorded", "metric.unit_pct": "%/m",
  },
};

let lang = localStorage.getItem("vigil.lang") || "zh";
// The server's catalogue (vigil/messages.py) for the current language: labels of causes, kinds,
// rooms, device types, rules... one vocabulary for the API and the page.
let catalogue = {};

export function language() {
  return lang;
}

export async function loadCatalogue() {
  const response = await fetch(`/api/messages?lang=${lang}`, { credentials: "same-origin" });
  if (response.ok) catalogue = await response.json();
}

export function t(key) {
  return STRINGS[lang][key] ?? catalogue[key] ?? STRINGS.zh[key] ?? key;
}

// A translated label for a value of a known kind ("cause", "room"...), else the value itself.
export function label(kind, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${kind}.${value}`;
  const found = catalogue[key] ?? STRINGS[lang][key];
  if (found !== undefined) return found;
  const stairs = kind === "room" && /^stairwell-(\d+)F$/.exec(value);
  if (stairs) return lang === "zh" ? `${stairs[1]}层楼梯间` : `stairwell, floor ${stairs[1]}`;
  return value;
}

export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
}

export async function setLanguage(next) {
  lang = next;
  localStorage.setItem("vigil.lang", next);
  await loadCatalogue().catch(() => {});
  applyStatic();
}
