// The complainant's H5: photos made small in the browser before they are sent (a phone's
// 4000x3000 photo is megabytes over a campus mobile network), with thumbnails.
// Plain ES5 for WeChat's built-in browser. Without this script, or where the browser cannot
// (no canvas.toBlob, no DataTransfer), the photos are sent as chosen and the server checks them.
(function () {
  "use strict";

  var MAX_SIDE = 1600;
  var QUALITY = 0.8;
  // What a canvas can draw; HEIC and the like go as they are.
  var DRAWABLE = /^image\/(jpeg|png|webp|gif|bmp)$/;

  function each(list, callback) {
    Array.prototype.forEach.call(list, callback);
  }

  function canCompress() {
    if (!window.URL || !URL.createObjectURL || typeof window.DataTransfer !== "function") {
      return false;
    }
    try {
      new window.DataTransfer();
    } catch (e) {
      return false;
    }
    var canvas = document.createElement("canvas");
    return !!(canvas.getContext && canvas.toBlob);
  }

  function jpegName(name) {
    return (name || "photo").replace(/\.[^.\/]*$/, "") + ".jpg";
  }

  // Calls done(file): the compressed JPEG, or the original when it cannot be drawn or the
  // JPEG would not be smaller.
  function compress(file, done) {
    if (!DRAWABLE.test(file.type || "")) { done(file); return; }
    var url = URL.createObjectURL(file);
    var image = new Image();
    image.onload = function () {
      var width = image.naturalWidth, height = image.naturalHeight;
      var scale = Math.min(1, MAX_SIDE / Math.max(width, height, 1));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      var context = canvas.getContext("2d");
      context.fillStyle = "#fff";   // a transparent PNG gets a white background, not black
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      canvas.toBlob(function (blob) {
        if (!blob || (scale === 1 && blob.size >= file.size)) { done(file); return; }
        var smaller;
        try {
          smaller = new File([blob], jpegName(file.name), {type: "image/jpeg",
                                                             lastModified: Date.now()});
        } catch (e) {
          done(file);
          return;
        }
        done(smaller);
      }, "image/jpeg", QUALITY);
    };
    image.onerror = function () {
      URL.revokeObjectURL(url);
      done(file);
    };
    image.src = url;
  }

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB"
      : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function photoInput(input) {
    var form = input.form;
    var preview = document.getElementById(input.getAttribute("data-preview"));
    var status = document.getElementById(input.getAttribute("data-status"));
    var maxFiles = parseInt(input.getAttribute("data-max-files"), 10) || 9;
    var maxBytes = parseInt(input.getAttribute("data-max-bytes"), 10) || 0;
    var shown = [];
    var compressing = canCompress();

    function say(text) {
      if (status) { status.textContent = text; }
    }

    function busy(on) {
      if (!form) { return; }
      each(form.querySelectorAll("button[type=submit]"), function (button) {
        button.disabled = on;
      });
    }

    function showThumbnails(files) {
      each(shown, function (url) { URL.revokeObjectURL(url); });
      shown = [];
      if (!preview) { return; }
      while (preview.firstChild) { preview.removeChild(preview.firstChild); }
      each(files, function (file, index) {
        if (!/^image\//.test(file.type || "")) { return; }
        var url = URL.createObjectURL(file);
        shown.push(url);
        var image = document.createElement("img");
        image.src = url;
        image.alt = "照片" + (index + 1);
        preview.appendChild(image);
      });
    }

    function report(files) {
      var total = 0, tooBig = false;
      each(files, function (file) {
        total += file.size;
        if (maxBytes && file.size > maxBytes) { tooBig = true; }
      });
      if (!files.length) { say(""); return; }
      var text = "已选择 " + files.length + " 张照片,共 " + sizeText(total);
      if (files.length > maxFiles) { text += ";最多 " + maxFiles + " 张,请减少后再提交"; }
      if (tooBig) { text += ";有照片超过 " + sizeText(maxBytes) + ",请换一张"; }
      say(text);
    }

    input.addEventListener("change", function () {
      var chosen = Array.prototype.slice.call(input.files || []);
      if (!window.URL || !URL.createObjectURL) { report(chosen); return; }
      if (!compressing || !chosen.length) {
        showThumbnails(chosen);
        report(chosen);
        return;
      }
      busy(true);
      say("正在压缩照片…");
      var results = new Array(chosen.length);
      var left = chosen.length;
      each(chosen, function (file, index) {
        compress(file, function (result) {
          results[index] = result;
          left -= 1;
          if (left > 0) { return; }
          var transfer = new window.DataTransfer();
          each(results, function (item) { transfer.items.add(item); });
          try {
            input.files = transfer.files;   // the form sends the compressed ones
          } catch (e) {
            results = chosen;
          }
          showThumbnails(results);
          report(results);
          busy(false);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    each(document.querySelectorAll("input[type=file][data-preview]"), photoInput);
  });
})();
