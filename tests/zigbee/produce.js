// Exact zigbee2mqtt output for Vigil's tests, made by zigbee-herdsman-converters (MIT) itself.
//
// Reads a JSON spec on stdin:
//   {"devices": [{"ieee": "0x...", "friendly_name": "kitchen/smoke", "model_id": "SmokeSensor-EM",
//                 "manufacturer": "HEIMAN", "steps": [MESSAGE, ...]}]}
// MESSAGE is a raw Zigbee message as zigbee-herdsman hands it to zigbee2mqtt:
//   {"cluster": "ssIasZone", "type": "commandStatusChangeNotification",
//    "data": {"zonestatus": 1, "extendedstatus": 0}, "endpoint": 1, "linkquality": 120}
// or, for Tuya's datapoint cluster, {"tuya": [[dp, datatype, value], ...]} (datatype 0 raw,
// 1 bool, 2 value, 3 string, 4 enum, 5 bitmap).
// Writes {"devices": [bridge/devices entry, ...], "payloads": {friendly_name: [state, ...]}}:
// the device's definition and exposes as zigbee2mqtt publishes them on `bridge/devices`, and,
// per step, the state zigbee2mqtt publishes on `<base>/<friendly_name>` (the device's cached
// state merged with what the converters returned, `action` not cached, plus `linkquality`),
// or null when the converters returned nothing (zigbee2mqtt publishes nothing then).
"use strict";

const zhc = require("zigbee-herdsman-converters");

zhc.setLogger({
    debug: () => {},
    info: () => {},
    warning: () => {},
    error: (m) => process.stderr.write(`zhc error: ${m}\n`),
});

// zigbee2mqtt does not keep these in a device's cached state (lib/state.ts).
const NOT_CACHED = /^(action|action_.*|button|button_left|button_right|forgotten|keyerror|step_size|transition_time|group_list|group_capacity|no_occupancy_since|step_mode)$/;

function mockEndpoint(device, id) {
    return {
        ID: id,
        deviceIeeeAddress: device.ieeeAddr,
        inputClusters: [],
        outputClusters: [],
        clusters: {},
        meta: {},
        getDevice: () => device,
        supportsInputCluster: () => true,
        supportsOutputCluster: () => true,
        getClusterAttributeValue: () => undefined,
        saveClusterAttributeKeyValue: () => {},
        save: () => {},
        read: async () => ({}),
        write: async () => {},
        command: async () => ({}),
        configureReporting: async () => {},
        bind: async () => {},
        defaultResponse: async () => {},
    };
}

function mockDevice(spec) {
    const device = {
        ieeeAddr: spec.ieee,
        networkAddress: 0x1234,
        modelID: spec.model_id,
        manufacturerName: spec.manufacturer,
        manufacturerID: spec.manufacturer_id ?? 0,
        type: spec.type ?? "EndDevice",
        powerSource: spec.power_source ?? "Battery",
        softwareBuildID: spec.software_build_id,
        dateCode: undefined,
        interviewCompleted: true,
        meta: {},
        endpoints: [],
        customClusters: {},
        save: () => {},
        getEndpoint: (id) => device.endpoints.find((e) => e.ID === id),
    };
    for (const id of spec.endpoints ?? [1]) device.endpoints.push(mockEndpoint(device, id));
    return device;
}

function tuyaBuffer(datatype, value) {
    switch (datatype) {
        case 1:
        case 4:
            return Buffer.from([Number(value) & 0xff]);
        case 2: {
            const b = Buffer.alloc(4);
            b.writeInt32BE(Number(value));
            return b;
        }
        case 3:
            return Buffer.from(String(value), "latin1");
        case 5: {
            const b = Buffer.alloc(4);
            b.writeUInt32BE(Number(value));
            return b;
        }
        default:
            return Buffer.from(value);
    }
}

let tuyaSeq = 1;

function rawMessage(step, device) {
    if (step.tuya) {
        return {
            cluster: "manuSpecificTuya",
            type: step.type ?? "commandDataReport",
            data: {
                seq: tuyaSeq++,
                dpValues: step.tuya.map(([dp, datatype, value]) => ({dp, datatype, data: tuyaBuffer(datatype, value)})),
            },
            endpoint: device.getEndpoint(step.endpoint ?? 1),
            linkquality: step.linkquality ?? 120,
        };
    }
    return {
        cluster: step.cluster,
        type: step.type,
        data: step.data,
        endpoint: device.getEndpoint(step.endpoint ?? 1),
        linkquality: step.linkquality ?? 120,
    };
}

function exposesOf(definition, device) {
    const exposes = typeof definition.exposes === "function" ? definition.exposes(device, {}) : definition.exposes;
    return JSON.parse(JSON.stringify(exposes));
}

async function one(spec) {
    const device = mockDevice(spec);
    const definition = await zhc.findByDevice(device);
    if (!definition) throw new Error(`no definition for ${spec.model_id} / ${spec.manufacturer}`);
    const entry = {
        ieee_address: spec.ieee,
        type: device.type,
        network_address: device.networkAddress,
        supported: true,
        friendly_name: spec.friendly_name,
        disabled: false,
        definition: {
            source: "native",
            model: definition.model,
            vendor: definition.vendor,
            description: definition.description,
            exposes: exposesOf(definition, device),
            supports_ota: Boolean(definition.ota),
            options: [],
        },
        power_source: device.powerSource,
        model_id: spec.model_id,
        manufacturer: spec.manufacturer,
        interview_completed: true,
        interviewing: false,
    };
    const cached = {};
    const payloads = [];
    for (const step of spec.steps ?? []) {
        const msg = rawMessage(step, device);
        msg.device = device;
        msg.meta = {zclTransactionSequenceNumber: step.tsn ?? payloads.length + 1, manufacturerCode: undefined, frameControl: {}};
        msg.groupID = 0;
        const meta = {device, state: {...cached}, deviceExposesChanged: () => {}};
        const options = spec.options ?? {};
        let out = {};
        const converters = definition.fromZigbee.filter(
            (c) => c.cluster === msg.cluster && (Array.isArray(c.type) ? c.type.includes(msg.type) : c.type === msg.type),
        );
        for (const converter of converters) {
            const converted = await converter.convert(definition, msg, () => {}, options, meta);
            if (converted) out = {...out, ...converted};
        }
        if (Object.keys(out).length === 0) {
            payloads.push(null);
            continue;
        }
        zhc.postProcessConvertedFromZigbeeMessage(definition, out, options, device);
        const state = {...cached, ...out, linkquality: msg.linkquality};
        for (const [k, v] of Object.entries(out)) if (!NOT_CACHED.test(k)) cached[k] = v;
        cached.linkquality = msg.linkquality;
        payloads.push(state);
    }
    return {entry, payloads};
}

async function main() {
    let input = "";
    for await (const chunk of process.stdin) input += chunk;
    const spec = JSON.parse(input);
    const result = {devices: [], payloads: {}};
    for (const dev of spec.devices) {
        const {entry, payloads} = await one(dev);
        result.devices.push(entry);
        result.payloads[dev.friendly_name] = payloads;
    }
    process.stdout.write(JSON.stringify(result));
}

main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
});
