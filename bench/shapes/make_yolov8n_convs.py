"""Lists yolov8n's forward convolutions at 640x640 (nc=80) into yolov8n-convs.json.

Derived from the reference layer table (shared/reference/ultralytics.md 1.3 and 1.5):
Conv = conv(no bias)+BN+SiLU; C2f: cv1 1x1 -> 2c, n bottlenecks of two 3x3 c->c, cv2 1x1 (2+n)c -> c2;
SPPF: cv1 1x1 c1 -> c1/2, cv2 1x1 2*c1 -> c2; Detect (v8): per level a box branch
(3x3 ch->64, 3x3 64->64, 1x1 64->64 with bias) and a class branch (3x3 ch->80, 3x3 80->80, 1x1 80->80 with bias).
Identical shapes are merged (count), so timings can be weighted. Checks the parameter count.
"""
import json

convs = []  # (name, cin, cout, h_in, k, stride, has_bn)


def conv(name, cin, cout, h, k, s=1, bn=True):
    convs.append((name, cin, cout, h, k, s, bn))
    return h // s


def c2f(name, c1, c2, n, h):
    c = c2 // 2
    conv(f"{name}.cv1", c1, 2 * c, h, 1)
    for i in range(n):
        conv(f"{name}.m.{i}.cv1", c, c, h, 3)
        conv(f"{name}.m.{i}.cv2", c, c, h, 3)
    conv(f"{name}.cv2", (2 + n) * c, c2, h, 1)


h = 640
h = conv("model.0", 3, 16, h, 3, 2)
h = conv("model.1", 16, 32, h, 3, 2)
c2f("model.2", 32, 32, 1, h)
h = conv("model.3", 32, 64, h, 3, 2)
c2f("model.4", 64, 64, 2, h)
h = conv("model.5", 64, 128, h, 3, 2)
c2f("model.6", 128, 128, 2, h)
h = conv("model.7", 128, 256, h, 3, 2)
c2f("model.8", 256, 256, 1, h)
conv("model.9.cv1", 256, 128, 20, 1)
conv("model.9.cv2", 512, 256, 20, 1)
c2f("model.12", 384, 128, 1, 40)
c2f("model.15", 192, 64, 1, 80)
conv("model.16", 64, 64, 80, 3, 2)
c2f("model.18", 192, 128, 1, 40)
conv("model.19", 128, 128, 40, 3, 2)
c2f("model.21", 384, 256, 1, 20)
for i, (ch, hh) in enumerate([(64, 80), (128, 40), (256, 20)]):
    conv(f"model.22.cv2.{i}.0", ch, 64, hh, 3)
    conv(f"model.22.cv2.{i}.1", 64, 64, hh, 3)
    conv(f"model.22.cv2.{i}.2", 64, 64, hh, 1, bn=False)
    conv(f"model.22.cv3.{i}.0", ch, 80, hh, 3)
    conv(f"model.22.cv3.{i}.1", 80, 80, hh, 3)
    conv(f"model.22.cv3.{i}.2", 80, 80, hh, 1, bn=False)

params = sum(ci * co * k * k + (2 * co if bn else co) for _, ci, co, _, k, _, bn in convs)
assert params == 3157200 - 16, params  # the DFL conv (16 fixed weights) is not a forward conv here
macs = sum(ci * co * k * k * (h // s) ** 2 for _, ci, co, h, k, s, _ in convs)
print(f"{len(convs)} convs, {params} params (+16 DFL = 3157200), {2 * macs / 1e9:.2f} GFLOPs at 640 (conv only)")

merged = {}
for name, ci, co, h, k, s, bn in convs:
    key = (ci, co, h, k, s)
    if key in merged:
        merged[key]["count"] += 1
    else:
        merged[key] = dict(name=name, cin=ci, cout=co, h=h, w=h, k=k, stride=s, pad=k // 2, groups=1, count=1)
with open("yolov8n-convs.json", "w") as f:
    json.dump(list(merged.values()), f, indent=1)
print(f"{len(merged)} distinct shapes written to yolov8n-convs.json")
