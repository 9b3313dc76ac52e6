"""The web page at ``/``: one self-contained HTML file (no build step, no external assets) with
a form for the run's input (a row of the table's columns, an image upload, a text, an
observation...) and a readable result: a bar per class probability, or a table of the
prediction's fields. It talks to ``POST /predict`` with fetch().

It is served with a strict Content-Security-Policy (:func:`page_policy`): its one script and
one style element carry the response's nonce, nothing else runs, nothing loads from elsewhere,
and no other site may frame it. So the script sets no inline handlers or style attributes (a
policy without 'unsafe-inline' blocks them): it binds the form's submit event, and bar widths are
set through the DOM."""

from __future__ import annotations

import html
import json
from typing import Any

from layerwise.serve.requests import example_request, table_columns

# The file input of the request shapes sent as an uploaded file: what it accepts
FILE_ACCEPT = {"images": "image/*", "audio": ".wav,audio/wav"}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:780px;margin:24px auto;
padding:0 16px;color:#1d2430}h1{font-size:1.35em}label{display:block;margin:8px 0 2px;
font-size:.9em;color:#3b4453}input,textarea{width:100%;box-sizing:border-box;padding:6px;
border:1px solid #c4cad3;border-radius:5px;font:inherit}button{margin-top:12px;padding:8px 18px;
border:0;border-radius:5px;background:#1f77b4;color:#fff;font:inherit;cursor:pointer}
.bar{display:flex;align-items:center;margin:3px 0}.bar span{width:30%;font-size:.9em}
.bar div{height:16px;background:#1f77b4;border-radius:3px}.bar b{margin-left:8px;font-size:.85em}
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #d8dce1;padding:3px 8px;
font-size:.9em}.note{color:#5a6372;font-size:.85em}.error{color:#b3261e}#result{margin-top:16px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 14px}
"""

SCRIPT = """
const INFO = __INFO__;
function token(){const t=document.getElementById('token');return t&&t.value?{'Authorization':'Bearer '+t.value}:{};}
function show(data){
  const out=document.getElementById('result');
  if(data.error){out.innerHTML='<p class="error" id="error">'+esc(data.error)+'</p>';return;}
  const rows=data.predictions||[];let h='';
  if(rows.length&&'forecast' in rows[0]){h=forecastCharts(rows);}
  else if(rows.length&&'box' in rows[0]&&uploaded){h=boxes(rows);}
  else if(rows.length&&'mask_png' in rows[0]){h=masks(rows);}
  else rows.slice(0,20).forEach(function(r){
    const probs=Object.keys(r).filter(k=>k.startsWith('probability_'));
    if('prediction' in r) h+='<p>Prediction: <b id="prediction">'+esc(r.prediction)+'</b></p>';
    if('action' in r) h+='<p>Action: <b id="prediction">'+esc(r.action)+'</b></p>';
    if('output' in r) h+='<p>'+esc(r.input)+' &rarr; <b id="prediction">'+esc(r.output)+'</b></p>';
    probs.forEach(function(k){const p=Number(r[k]);h+='<div class="bar"><span>'+esc(k.slice(12))+
      '</span><div data-width="'+(60*p).toFixed(1)+'"></div><b>'+(100*p).toFixed(1)+'%</b></div>';});
    if(r.image_png) h+='<img alt="generated" src="data:image/png;base64,'+r.image_png+'" width="96">';
    if(r.drawing_png) h+='<img alt="drawing" src="data:image/png;base64,'+r.drawing_png+'" width="240">';
    const rest=Object.keys(r).filter(k=>!probs.includes(k)&&k!=='image_png'&&k!=='drawing_png');
    h+='<table>'+rest.map(k=>'<tr><th>'+esc(k)+'</th><td>'+esc(r[k])+'</td></tr>').join('')+'</table>';
  });
  (data.notes||[]).forEach(n=>{h+='<p class="note">'+esc(n)+'</p>';});
  out.innerHTML=h||'<p class="note">No predictions.</p>';
  out.querySelectorAll('[data-width]').forEach(d=>{d.style.width=d.dataset.width+'%';});
}
function forecastCharts(rows){
  // one chart per series: the forecast line in its widest interval's band
  const by={};rows.forEach(r=>{(by[r.column]=by[r.column]||[]).push(r);});
  const lo=Object.keys(rows[0]).filter(k=>k.startsWith('lower_')).sort().pop();
  const hi=lo&&lo.replace('lower_','upper_');let h='';
  Object.keys(by).forEach(function(c){
    const rs=by[c],n=rs.length,W=560,H=150;
    const vals=rs.flatMap(r=>[r.forecast,lo?r[lo]:r.forecast,hi?r[hi]:r.forecast]).map(Number);
    const mn=Math.min(...vals),mx=Math.max(...vals);
    const x=i=>(10+(W-20)*(n>1?i/(n-1):0.5)).toFixed(1),y=v=>(H-10-(H-20)*((v-mn)/((mx-mn)||1))).toFixed(1);
    const pts=k=>rs.map((r,i)=>x(i)+','+y(Number(r[k])));
    h+='<p>'+esc(c)+'</p><svg class="forecast" viewBox="0 0 '+W+' '+H+'" width="100%">';
    if(lo) h+='<polygon fill="#cfe0f5" points="'+pts(lo).concat(pts(hi).reverse()).join(' ')+'"/>';
    h+='<polyline fill="none" stroke="#2a6fd1" stroke-width="2" points="'+pts('forecast').join(' ')+'"/></svg>';
    h+='<p class="note">'+esc(rs[0].time)+' to '+esc(rs[n-1].time)+': '+rs.map(r=>Number(r.forecast).toPrecision(4)).join(', ')+
      (lo?' (band: the '+esc(lo.slice(6))+'% interval)':'')+'</p>';});
  return h;
}
let uploaded=null;  // the image last sent: {url (a data: URL), w, h}, for boxes drawn over it
function boxes(rows){
  // boxes (box: x1 y1 x2 y2 in the image's pixels) over the uploaded image, and a line per box
  const W=uploaded.w,H=uploaded.h,line=Math.max(1,W/250),font=Math.max(10,W/40);
  let h='<svg class="boxes" viewBox="0 0 '+W+' '+H+'" width="100%"><image href="'+uploaded.url+
    '" width="'+W+'" height="'+H+'"/>';
  rows.forEach(function(r){const x=Number(r.box[0]),y=Number(r.box[1]);
    h+='<rect x="'+x+'" y="'+y+'" width="'+(Number(r.box[2])-x)+'" height="'+(Number(r.box[3])-y)+
      '" fill="none" stroke="#e6194b" stroke-width="'+line+'"/><text x="'+x+'" y="'+Math.max(font,y-line)+
      '" fill="#e6194b" font-size="'+font+'">'+esc(r.label)+' '+Number(r.score).toFixed(2)+'</text>';});
  h+='</svg><table><tr><th>label</th><th>score</th><th>box</th></tr>'+rows.slice(0,50).map(r=>'<tr><td>'+
    esc(r.label)+'</td><td>'+Number(r.score).toFixed(3)+'</td><td>'+r.box.map(esc).join(', ')+
    '</td></tr>').join('')+'</table>';
  return h;
}
function masks(rows){
  // the mask (a palette PNG, background transparent) laid over the uploaded image, and the
  // share of the image each class covers
  let h='';rows.slice(0,4).forEach(function(r){const W=r.width,H=r.height;
    h+='<svg class="mask" viewBox="0 0 '+W+' '+H+'" width="100%">';
    if(uploaded&&rows.length===1) h+='<image href="'+uploaded.url+'" width="'+W+'" height="'+H+'"/>';
    h+='<image href="data:image/png;base64,'+r.mask_png+'" width="'+W+'" height="'+H+'" opacity="'+
      (uploaded?0.55:1)+'"/></svg><table><tr><th>class</th><th>share of the image</th></tr>'+
      Object.keys(r).filter(k=>k.startsWith('area_')).map(k=>'<tr><td>'+esc(k.slice(5))+'</td><td>'+
      (100*Number(r[k])).toFixed(2)+'%</td></tr>').join('')+'</table>';});
  return h;
}
function esc(v){return String(v).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
async function send(body,isForm){
  const headers=Object.assign(isForm?{}:{'Content-Type':'application/json'},token());
  try{const r=await fetch('predict',{method:'POST',headers:headers,body:isForm?body:JSON.stringify(body)});
    show(await r.json());}catch(e){show({error:String(e)});}
}
function submitForm(ev){
  ev.preventDefault();const f=ev.target;
  if(f.file){const file=f.file.files[0],d=new FormData();d.append('file',file);
    if(!file||!file.type.startsWith('image/')){uploaded=null;return send(d,true);}
    const reader=new FileReader();  // a data: URL (the page's policy allows no blob:)
    reader.onload=function(){const im=new Image();
      im.onload=function(){uploaded={url:reader.result,w:im.naturalWidth,h:im.naturalHeight};send(d,true);};
      im.onerror=function(){uploaded=null;send(d,true);};im.src=reader.result;};
    reader.readAsDataURL(file);return;}
  if(f.text){const texts=f.text.value.split('\\n').map(t=>t.trim()).filter(t=>t);
    const field=f.text.dataset.field||'texts',body={};body[field]=texts;
    return texts.length?send(body,false):show({error:'Type a text first.'});}
  if(f.json){let v;try{v=JSON.parse(f.json.value);}catch(e){return show({error:'Not JSON: '+e});}return send(v,false);}
  const row={};(INFO.form_columns||[]).forEach(function(c){const v=f[c.name].value;
    if(v==='') row[c.name]=null; else if(c.kind==='numeric'&&!isNaN(Number(v))) row[c.name]=Number(v); else row[c.name]=v;});
  send({rows:[row]},false);
}
document.getElementById('form').addEventListener('submit',submitForm);
"""


def _fields(info: dict, kind: str | None) -> str:
    schema = info.get("input") or {}
    if kind == "series":  # the recent history: a CSV with the time and value columns
        names = [schema.get("time_column"), *(schema.get("columns") or [])]
        shown = html.escape(", ".join(str(c) for c in names if c))
        return (f'<label for="file">Recent history (CSV: {shown})</label>'
                '<input type="file" id="file" name="file" accept=".csv,text/csv">')  # fmt: skip
    if info.get("form_columns"):
        cells = [f'<div><label for="{html.escape(c["name"])}">{html.escape(c["name"])} '
                 f'<span class="note">({html.escape(c["kind"])})</span></label>'
                 f'<input id="{html.escape(c["name"])}" name="{html.escape(c["name"])}"></div>'
                 for c in info["form_columns"]]  # fmt: skip
        return '<div class="grid">' + "".join(cells) + "</div>"
    if kind == "texts":  # one text a line, sent as {"texts": [...]}
        return ('<label for="text">Text (one a line)</label><textarea id="text" name="text" '
                'rows="4"></textarea>')  # fmt: skip
    if kind == "smiles":  # one molecule a line, sent as {"smiles": [...]}
        return ('<label for="text">SMILES (one molecule a line)</label><textarea id="text" '
                'name="text" data-field="smiles" rows="4">CC(=O)Oc1ccccc1C(=O)O</textarea>')  # fmt: skip
    if kind in FILE_ACCEPT:
        accept = FILE_ACCEPT[kind]
        return f'<label for="file">File</label><input type="file" id="file" name="file" accept="{accept}">'
    return (
        '<label for="json">Request (JSON)</label><textarea id="json" name="json" rows="5">'
        + html.escape(json.dumps(example_request(kind, schema)))
        + "</textarea>"
    )


def page_policy(nonce: str) -> str:
    """The page's Content-Security-Policy: its own nonced script and style, images from data:
    URLs (generated images), fetch() to this server only, never inside another site's frame."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src data:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")  # fmt: skip


def page_html(info: dict[str, Any], token_needed: bool = False, nonce: str = "",
              docs: bool = False, kind: str | None = None) -> str:  # fmt: skip
    """The page for a run described by ``info`` (what ``GET /info`` returns); ``nonce`` marks its
    script and style for the Content-Security-Policy; ``docs`` links /docs, else the OpenAPI JSON;
    ``kind``: the task's ``request_kind`` (:mod:`layerwise.serve.requests`), which picks the form.
    """
    test = info.get("test") or {}
    metric = info.get("metric")
    score = test.get(metric) if isinstance(test, dict) and metric else None
    summary = html.escape(info["task"])
    if info.get("chosen"):
        summary += f", model {html.escape(str(info['chosen']))}"
    if isinstance(score, (int, float)):
        summary += f", test {html.escape(str(metric))} {score:.4g}"
    token = ('<label for="token">Token</label><input id="token" type="password">'
             if token_needed else "")  # fmt: skip
    info = {**info, "form_columns": table_columns(info.get("input") or {})}
    script = SCRIPT.replace("__INFO__", json.dumps(info).replace("</", "<\\/"))
    mark = f' nonce="{html.escape(nonce)}"' if nonce else ""
    link = '<a href="docs">API docs</a>' if docs else '<a href="openapi.json">API (OpenAPI)</a>'
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f'content="width=device-width,initial-scale=1"><title>layerwise: '
            f"{html.escape(info['task'])}</title><style{mark}>{STYLE}</style></head><body>"
            f"<h1>layerwise: {html.escape(info['run'])}</h1><p class=note>{summary}. "
            f'{link}</p><form id="form">'
            f"{token}{_fields(info, kind)}<button id=predict type=submit>Predict</button></form>"
            f'<div id="result"></div><script{mark}>{script}</script></body></html>')  # fmt: skip
