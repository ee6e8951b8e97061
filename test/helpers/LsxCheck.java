// Checks a QRadar log source extension (LSX) the way the tests can without QRadar: compiled by
// test/rules/qradar.test.ts with javac into a temporary directory and run with the JDK's own XML parser and
// java.util.regex (the regex engine QRadar's Java patterns run on).
//
//   java LsxCheck <lsx.xml> <payloads>   payloads: one event per line, base64 of its UTF-8 bytes
//
// Output, one record per line, tab-separated (values base64 of UTF-8):
//   problem <text>                       the document breaks the documented element/attribute set, or a pattern does
//                                        not compile
//   pattern <id> <regex|keypath>         each pattern and how it was compiled
//   field <payload#> <Field> <value>     what the matchers of one match-group extract, QRadar's way: for each field
//                                        the matchers in `order`, the first whose pattern finds a match wins; the
//                                        value is capture group N, or with enable-substitutions the template with \N
//                                        replaced
//   event <payload#> <EventName> <category> <severity>  the event-match-single for the extracted EventName
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;
import java.util.regex.*;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.*;

public class LsxCheck {
  static final String NS = "event_parsing/device_extension";
  static final Map<String, Set<String>> ATTRS = new HashMap<>();
  static final Set<String> FIELDS = new HashSet<>(Arrays.asList(
      "EventName", "EventCategory", "SourceIp", "SourcePort", "SourceIpPreNAT", "SourceIpPostNAT", "SourceMAC",
      "SourcePortPreNAT", "SourcePortPostNAT", "DestinationIp", "DestinationPort", "DestinationIpPreNAT",
      "DestinationIpPostNAT", "DestinationPortPreNAT", "DestinationPortPostNAT", "DestinationMAC", "DeviceTime",
      "Protocol", "UserName", "HostName", "GroupName", "NetBIOSName"));
  static final Set<String> SEND_IDENTITY = new HashSet<>(Arrays.asList(
      "UseDSMResults", "OverrideAndNeverSend", "OverrideAndAlwaysSend"));

  static {
    ATTRS.put("device-extension", set("xmlns"));
    ATTRS.put("pattern", set("id", "xmlns", "case-insensitive", "trim-whitespace", "use-default-pattern", "type"));
    ATTRS.put("match-group", set("order", "description", "device-type-id-override", "xmlns"));
    ATTRS.put("matcher", set("field", "pattern-id", "order", "capture-group", "enable-substitutions", "ext-data"));
    ATTRS.put("json-matcher", set("field", "pattern-id", "order", "enable-substitutions", "ext-data"));
    ATTRS.put("event-match-single", set("event-name", "device-event-category", "severity", "send-identity",
        "force-qidmap-lookup-on-fixup"));
  }

  static Set<String> set(String... s) {
    return new HashSet<>(Arrays.asList(s));
  }

  static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  static void out(String... parts) {
    System.out.println(String.join("\t", parts));
  }

  static void problem(String s) {
    out("problem", b64(s));
  }

  static String req(Element e, String a) {
    if (!e.hasAttribute(a)) problem("<" + e.getTagName() + "> lacks the required attribute " + a);
    return e.getAttribute(a);
  }

  static class M {
    String field, patternId, captureGroup;
    int order;
    boolean subst, json;
  }

  public static void main(String[] args) throws Exception {
    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
    f.setNamespaceAware(true);
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    Document doc = f.newDocumentBuilder().parse(Path.of(args[0]).toFile());
    Element root = doc.getDocumentElement();
    if (!"device-extension".equals(root.getLocalName()) || !NS.equals(root.getNamespaceURI()))
      problem("root must be <device-extension xmlns=\"" + NS + "\">, is " + root.getTagName() + " in " + root.getNamespaceURI());

    Map<String, Pattern> regex = new LinkedHashMap<>();
    Map<String, String> keypath = new LinkedHashMap<>();
    List<M> matchers = new ArrayList<>();
    Map<String, String[]> events = new HashMap<>();
    Set<String> groupOrders = new HashSet<>();
    int groups = 0;
    boolean patternsDone = false;

    for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n.getNodeType() == Node.TEXT_NODE && n.getTextContent().trim().isEmpty()) continue;
      if (n.getNodeType() == Node.COMMENT_NODE) continue;
      if (n.getNodeType() != Node.ELEMENT_NODE) { problem("unexpected content under the root"); continue; }
      Element e = (Element) n;
      checkAttrs(e);
      if (e.getNamespaceURI() != null && !e.getNamespaceURI().isEmpty())
        problem("<" + e.getTagName() + "> must leave the default namespace (xmlns=\"\"), as IBM's examples do");
      if (e.getLocalName().equals("pattern")) {
        if (patternsDone) problem("patterns must come before the match groups");
        String id = req(e, "id");
        boolean cdata = false;
        for (Node c = e.getFirstChild(); c != null; c = c.getNextSibling())
          if (c.getNodeType() == Node.CDATA_SECTION_NODE) cdata = true;
        if (!cdata) problem("pattern " + id + " must hold its expression in CDATA");
        String body = e.getTextContent();
        if (regex.containsKey(id) || keypath.containsKey(id)) problem("duplicate pattern id " + id);
        if (body.startsWith("/\"")) {
          if (!body.matches("(/\"[^\"]+\"(\\[\\d*\\])?)+")) problem("pattern " + id + ": not a JSON keypath: " + body);
          keypath.put(id, body);
          out("pattern", b64(id), "keypath");
        } else {
          try {
            int flags = "true".equals(e.getAttribute("case-insensitive")) ? Pattern.CASE_INSENSITIVE : 0;
            regex.put(id, Pattern.compile(body, flags));
            out("pattern", b64(id), "regex");
          } catch (PatternSyntaxException x) {
            problem("pattern " + id + " does not compile: " + x.getDescription());
          }
        }
      } else if (e.getLocalName().equals("match-group")) {
        patternsDone = true;
        groups++;
        String order = req(e, "order");
        if (!order.matches("[1-9]\\d*") || !groupOrders.add(order)) problem("match-group order must be a unique integer > 0: " + order);
        for (Node c = e.getFirstChild(); c != null; c = c.getNextSibling()) {
          if (c.getNodeType() != Node.ELEMENT_NODE) continue;
          Element m = (Element) c;
          checkAttrs(m);
          String tag = m.getLocalName();
          if (tag.equals("matcher") || tag.equals("json-matcher")) {
            M x = new M();
            x.json = tag.equals("json-matcher");
            x.field = req(m, "field");
            x.patternId = req(m, "pattern-id");
            String o = req(m, "order");
            x.order = o.matches("\\d+") ? Integer.parseInt(o) : -1;
            x.captureGroup = m.hasAttribute("capture-group") ? m.getAttribute("capture-group") : "0";
            x.subst = "true".equals(m.getAttribute("enable-substitutions"));
            if (!FIELDS.contains(x.field)) problem("unknown matcher field " + x.field);
            if (x.json ? !keypath.containsKey(x.patternId) : !regex.containsKey(x.patternId))
              problem(tag + " " + x.field + " refers to a missing or wrong-kind pattern " + x.patternId);
            if (!x.json && !x.subst && !x.captureGroup.matches("\\d+")) problem("capture-group must be a number without substitutions");
            matchers.add(x);
          } else if (tag.equals("event-match-single")) {
            String name = req(m, "event-name");
            String sev = req(m, "severity");
            if (!sev.matches("10|[1-9]")) problem("severity must be 1-10: " + sev);
            if (!SEND_IDENTITY.contains(req(m, "send-identity"))) problem("unknown send-identity");
            if (events.put(name, new String[] {req(m, "device-event-category"), sev}) != null) problem("duplicate event-match-single " + name);
          } else {
            problem("unknown element <" + tag + "> in a match-group");
          }
        }
      } else {
        problem("unknown element <" + e.getTagName() + ">");
      }
    }
    if (groups != 1) problem("expected one match-group, found " + groups);
    if (matchers.stream().noneMatch(m -> m.field.equals("EventName"))) problem("no EventName matcher");
    matchers.sort(Comparator.comparingInt(m -> m.order));

    List<String> lines = Files.readAllLines(Path.of(args[1]));
    for (int i = 0; i < lines.size(); i++) {
      String payload = new String(Base64.getDecoder().decode(lines.get(i)), StandardCharsets.UTF_8);
      Map<String, String> got = new LinkedHashMap<>();
      for (M m : matchers) {
        if (m.json || got.containsKey(m.field)) continue;
        Matcher x = regex.get(m.patternId).matcher(payload);
        if (!x.find()) continue;
        String v;
        if (m.subst) {
          StringBuilder sb = new StringBuilder();
          Matcher t = Pattern.compile("\\\\(\\d)").matcher(m.captureGroup);
          int last = 0;
          while (t.find()) {
            sb.append(m.captureGroup, last, t.start());
            String g = x.group(Integer.parseInt(t.group(1)));
            sb.append(g == null ? "" : g);
            last = t.end();
          }
          sb.append(m.captureGroup.substring(last));
          v = sb.toString();
        } else {
          v = x.group(Integer.parseInt(m.captureGroup));
        }
        if (v == null) continue;
        got.put(m.field, v);
      }
      for (Map.Entry<String, String> e : got.entrySet()) out("field", String.valueOf(i), e.getKey(), b64(e.getValue()));
      String name = got.get("EventName");
      String[] ev = name == null ? null : events.get(name);
      if (ev != null) out("event", String.valueOf(i), b64(name), b64(ev[0]), ev[1]);
    }
  }

  static void checkAttrs(Element e) {
    Set<String> ok = ATTRS.get(e.getLocalName());
    if (ok == null) return;
    NamedNodeMap a = e.getAttributes();
    for (int i = 0; i < a.getLength(); i++) {
      String name = a.item(i).getNodeName();
      if (!ok.contains(name)) problem("<" + e.getLocalName() + "> has an attribute QRadar does not document: " + name);
    }
  }
}
