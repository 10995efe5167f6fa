// Staff console start screen: follow this till's event stream, so a pass or loyalty
// card scanned at the till opens that customer's profile without anyone typing.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!window.EventSource) { return; }
  var customerUrl = script.dataset.customerUrl;
  var events = new EventSource(script.dataset.eventsUrl);
  events.addEventListener("customer.identified", function (message) {
    var event = JSON.parse(message.data);
    if (!event.customer_id) { return; }
    var target = customerUrl + encodeURIComponent(event.customer_id);
    if (window.location.pathname !== target) {
      events.close();
      window.location.assign(target);
    }
  });
  // Leaving the page closes the stream at once (frees the server's thread).
  window.addEventListener("pagehide", function () { events.close(); });
})();
