from tests.alerting.fix_alerting import adb, conn, policy_dir
from tests.alerting.fix_cloud import aliyun, tencent
from tests.alerting.fix_smpp import smsc
from tests.alerting.fix_sms_http import sms_api
from tests.alerting.fix_webhook import receiver
from tests.alerting.fix_wecom import wecom_robot

__all__ = [
    "adb",
    "aliyun",
    "conn",
    "policy_dir",
    "receiver",
    "sms_api",
    "smsc",
    "tencent",
    "wecom_robot",
]
