"""Captured and documented push bodies, kept verbatim (apart from IDs): the corpus the tests
send. Sources: public parsers of CTWing pushes (a LiAn smoke detector, a transparent product)
and the platforms' documented examples."""

from __future__ import annotations

# A LiAn NB-IoT smoke detector's dataReport as captured in a public CTWing receiver.
LIAN_SMOKE = (
    b'{"upPacketSN":-1,"upDataSN":-1,"topic":"v1/up/ad19prof","timestamp":1606982320277,'
    b'"tenantId":"10461180","serviceId":"","protocol":"lwm2m","productId":"15014772",'
    b'"payload":{"serviceId":"notification","serviceData":{"TData":30,"SNR":1,"RSRP":114,'
    b'"IMEI":"860374051096202","Cell_ID_Length":8,"Cell_ID":"38848339","CSQ":5,'
    b'"Battery_Level":100,"Alarm_Status":2,"AlarmLevel":100}},"messageType":"dataReport",'
    b'"deviceType":"","deviceId":"acf7baaee65e431eadfb8f5fe50e8b81","assocAssetId":"",'
    b'"IMSI":"undefined","IMEI":"860374051096202"}'
)

# A transparent product: the vendor's binary frame in base64 APPdata, upPacketSN empty.
CTWING_TRANSPARENT = (
    b'{"upPacketSN":"","upDataSN":"","topic":"v1/up/ad","timestamp":1589444235861,'
    b'"tenantId":"10461180","serviceId":"","protocol":"lwm2m","productId":"10053421",'
    b'"payload":{"APPdata":"UFUAPBAAAAYBAAMAJwMnuwpogDAwYGckCQYAAQAADjxkZAJVcVCnAAAAAAAAAEYAAAAA'
    b'AAAAAAEDJ7sKAAAAAA=="},"messageType":"dataReport","deviceType":"",'
    b'"deviceId":"44d0b9e48d404094bbbcf889e4e64ece","assocAssetId":"","IMSI":"undefined",'
    b'"IMEI":"860803030676429"}'
)

# CTWing's documented online report (deviceId, no IMEI) and event report.
CTWING_ONLINE = (
    b'{"timestamp":1619523036482,"tenantId":"2000033827","protocol":"lwm2m",'
    b'"productId":"15045240","messageType":"deviceOnlineOfflineReport","iccid":"undefined",'
    b'"eventType":1,"deviceId":"d01308047f864601a821e02dc328eab4"}'
)
CTWING_EVENT = (
    b'{"timestamp":1619523767263,"tenantId":"2000033827","serviceId":1002,"protocol":"lwm2m",'
    b'"productId":"15045240","messageType":"eventReport","eventType":2,"eventContent":'
    b'{"battery_voltage":1,"battery_state":1},"deviceSn":"",'
    b'"deviceId":"d01308047f864601a821e02dc328eab4","IMSI":"undefined","IMEI":"161941770261953"}'
)

# OneNET's legacy sample (msg object, as its documentation writes it: key order as sent).
ONENET_LEGACY_MSG = (
    '{"at":1466133706841,"type":1,"ds_id":"datastream_id","value":42,"dev_id":2016617}'
)
