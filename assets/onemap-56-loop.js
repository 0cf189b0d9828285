/* OneMap duty desk: running the closed loop (派单 转办 退回 上报上级 结案 重新打开).
 *
 * The detail's 办理 row: one button per lifecycle verb the server offers for this incident and
 * this officer (d.loop, from dashboard/views/lifecycle.py: allowed, or why not), and a small form
 * for the one picked: who handles it (the nearest free workers first, or a department), and the
 * reason or result. Confirmed, it goes to the server as `handle`; the step comes back through the
 * live feed like any step and re-renders the detail. The open form is kept on the desk
 * (duty.loopForm), so a re-render in the middle of typing loses nothing.
 */
(function () {
  "use strict";
  var onemap = window.onemap;
  var el = function (tag, cls, text) { return onemap.el(tag, cls, text); };
  var FREE = { patrolling: true, idle: true };
  var STATUS = { patrolling: "巡查中", idle: "空闲", handling: "处置中", offline: "离线" };

  function distance(m) { return m < 1000 ? m + " 米" : (m / 1000).toFixed(1) + " 公里"; }

  onemap.loopNode = function (duty, d) {
    var loop = d.loop;
    var wrap = el("div", "loop");
    if (!loop) return wrap;
    wrap.appendChild(el("span", "loop-label", "办理"));
    var row = wrap.appendChild(el("div", "loop-verbs"));
    var form = duty.loopForm && duty.loopForm.id === d.id ? duty.loopForm : null;
    loop.verbs.forEach(function (v) {
      var b = el("button", "duty-button loop-verb" + (form && form.verb === v.verb ? " is-active" : ""), v.label);
      b.type = "button";
      b.setAttribute("data-loop", v.verb);
      b.disabled = !v.allowed;
      if (!v.allowed) b.title = v.why;
      b.addEventListener("click", function () {
        duty.loopForm = { id: d.id, verb: v.verb, assignee: "", remark: "" };
        duty.renderDetail(d);
      });
      row.appendChild(b);
    });
    if (form) {
      var rule = loop.verbs.filter(function (v) { return v.verb === form.verb; })[0];
      if (rule && rule.allowed) wrap.appendChild(formNode(duty, d, rule, form));
    }
    return wrap;
  };

  function formNode(duty, d, rule, form) {
    var box = el("div", "loop-form");
    box.setAttribute("data-verb", rule.verb);
    var redraw = function () { duty.renderDetail(d); };
    if (rule.verb === "escalate" || rule.verb === "return") {
      box.appendChild(el("p", "loop-where", (rule.verb === "escalate" ? "上报至：" : "退回至：") + rule.levelName));
    }
    if (rule.target === "handler") {
      box.appendChild(el("p", "loop-help", "派给附近的网格员（按距离，仅列在岗空闲者）或职能部门："));
      var free = (d.nearby || []).filter(function (w) { return FREE[w.status]; });
      if (!free.length) box.appendChild(el("p", "muted", "附近暂无空闲网格员"));
      free.forEach(function (w) {
        box.appendChild(choice(form, w.worker, w.name || w.worker,
          (w.name ? w.worker + " · " : "") + distance(w.metres) + " · " + (STATUS[w.status] || w.status) + " · " + w.place, redraw));
      });
      box.appendChild(departmentPicker(form, d.loop.departments, redraw));
    } else if (rule.target === "other_platform") {
      box.appendChild(el("p", "loop-help", "转办给其他平台的部门："));
      box.appendChild(departmentPicker(form, d.loop.otherDepartments, redraw));
    }
    var remark = el("textarea", "loop-remark");
    remark.maxLength = 500;
    remark.placeholder = rule.remarkLabel + (rule.remark === "required" ? "（必填，500字以内）" : "（选填）");
    remark.value = form.remark;
    remark.addEventListener("input", function () { form.remark = remark.value; confirm.disabled = !ready(); });
    box.appendChild(remark);
    var ready = function () {
      if (rule.target !== "none" && !form.assignee) return false;
      return rule.remark !== "required" || !!form.remark.trim();
    };
    var buttons = box.appendChild(el("div", "loop-buttons"));
    var confirm = el("button", "duty-button is-primary loop-confirm", "确认" + rule.label);
    confirm.type = "button";
    confirm.disabled = !ready();
    confirm.addEventListener("click", function () {
      confirm.disabled = true;
      var ask = { verb: rule.verb, incident: d.id, remark: form.remark };
      if (form.assignee) ask.assignee = form.assignee;
      duty.live.socket.emit("handle", ask, function (reply) {
        if (reply && reply.ok) duty.loopForm = null;
        duty.said(d.id, reply, "已" + rule.label + "（第 " + (reply && reply.seq) + " 步）");
        if (!(reply && reply.ok)) confirm.disabled = false;
        if (duty.openId === d.id && reply && reply.ok) duty.reloadDetail();
      });
    });
    buttons.appendChild(confirm);
    var cancel = el("button", "duty-button loop-cancel", "取消");
    cancel.type = "button";
    cancel.addEventListener("click", function () { duty.loopForm = null; redraw(); });
    buttons.appendChild(cancel);
    return box;
  }

  function choice(form, value, name, note, redraw) {
    var label = el("label", "loop-choice" + (form.assignee === value ? " is-chosen" : ""));
    var radio = el("input");
    radio.type = "radio";
    radio.name = "loop-assignee";
    radio.checked = form.assignee === value;
    radio.setAttribute("data-assignee", value);
    radio.addEventListener("change", function () { form.assignee = value; redraw(); });
    label.appendChild(radio);
    label.appendChild(el("b", null, name));
    if (note) label.appendChild(el("span", "loop-note", note));
    return label;
  }

  function departmentPicker(form, departments, redraw) {
    var select = el("select", "loop-department");
    var none = el("option", null, "— 选择部门 —");
    none.value = "";
    select.appendChild(none);
    departments.forEach(function (dep) {
      var o = el("option", null, dep.name + "（" + dep.platform + "）");
      o.value = dep.code;
      if (form.assignee === dep.code) o.selected = true;
      select.appendChild(o);
    });
    select.addEventListener("change", function () { form.assignee = select.value; redraw(); });
    return select;
  }

  // 联系: a worker's number, asked of the server (audited; in full for duty officers only),
  // then 拨打 (a tel: link: the desk phone or softphone the browser hands it to) and 复制.
  onemap.contactNode = function (duty, worker, incident) {
    var box = el("span", "contact");
    var ask = el("button", "duty-button contact-ask", "联系");
    ask.type = "button";
    ask.setAttribute("data-worker", worker);
    ask.addEventListener("click", function () {
      ask.disabled = true;
      duty.live.socket.emit("contact", { worker: worker, incident: incident }, function (reply) {
        box.textContent = "";
        if (!reply || !reply.ok) { box.appendChild(el("span", "muted", "无联系方式")); return; }
        box.appendChild(el("span", "contact-phone", reply.phone));
        if (!reply.masked) {
          var call = el("a", "duty-button contact-call", "拨打");
          call.href = "tel:" + reply.phone.replace(/[^0-9+]/g, "");
          box.appendChild(call);
          var copy = el("button", "duty-button contact-copy", "复制");
          copy.type = "button";
          copy.addEventListener("click", function () {
            if (navigator.clipboard) navigator.clipboard.writeText(reply.phone).then(function () { copy.textContent = "已复制"; });
          });
          box.appendChild(copy);
        }
      });
    });
    box.appendChild(ask);
    var outer = el("span", "contact-row");
    outer.appendChild(box);
    if (onemap.trackNode) outer.appendChild(onemap.trackNode(duty, worker, incident));
    return outer;
  };

  // A desk step's line in the timeline: who took it, for whom, why.
  onemap.loopStepNote = function (s) {
    var parts = [];
    if (s.actor) parts.push(s.actor);
    if (s.assignee) parts.push("→ " + s.assignee);
    var line = parts.join(" ");
    return s.remark ? (line ? line + "：" : "") + s.remark : line;
  };
})();
